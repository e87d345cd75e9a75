interface Props {
  value: number; // 0..100
  label: string;
  valueText?: string;
}

/** A labelled progress bar (role=progressbar via <progress>). */
export function ProgressBar({ value, label, valueText }: Props) {
  const v = Math.max(0, Math.min(100, value));
  return (
    <progress className="progress" max={100} value={v} aria-label={label} aria-valuetext={valueText ?? `${Math.floor(v)}%`}>
      {Math.floor(v)}%
    </progress>
  );
}
