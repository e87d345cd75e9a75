interface Props {
  /** 0..100; null: a moving bar with no value, for work that has started but cannot count yet. */
  value: number | null;
  label: string;
  valueText?: string;
}

/** A labelled progress bar (role=progressbar via <progress>). */
export function ProgressBar({ value, label, valueText }: Props) {
  if (value === null) {
    return <progress className="progress" aria-label={label} aria-valuetext={valueText} data-indeterminate="true" />;
  }
  const v = Math.max(0, Math.min(100, value));
  return (
    <progress className="progress" max={100} value={v} aria-label={label} aria-valuetext={valueText ?? `${Math.floor(v)}%`}>
      {Math.floor(v)}%
    </progress>
  );
}
