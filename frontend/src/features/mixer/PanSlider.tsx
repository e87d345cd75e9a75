import { formatPan } from "../../audio/mixmath";

interface Props {
  label: string;
  pan: number;
  onChange: (pan: number) => void;
}

/** Pan from -1 (left) to 1 (right); "50% left" for screen readers. Double-click centres. */
export function PanSlider({ label, pan, onChange }: Props) {
  const text = formatPan(pan);
  const short = pan === 0 ? "C" : `${pan < 0 ? "L" : "R"}${Math.round(Math.abs(pan) * 100)}`;
  return (
    <label className="pan">
      <span className="visually-hidden">{label}</span>
      <input
        type="range"
        min={-100}
        max={100}
        step={1}
        value={Math.round(pan * 100)}
        aria-valuetext={text}
        onChange={(e) => onChange(Number(e.target.value) / 100)}
        onDoubleClick={() => onChange(0)}
      />
      <output className="pan-value" aria-hidden="true">{short}</output>
    </label>
  );
}
