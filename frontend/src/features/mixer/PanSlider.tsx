import type { CSSProperties } from "react";
import { formatPan } from "../../audio/mixmath";

interface Props {
  /** The accessible name, saying whose pan it is: "Vocals pan". */
  label: string;
  /** A short visible word before the slider ("Pan"). */
  caption?: string;
  pan: number;
  onChange: (pan: number) => void;
}

/** The pan in words, for the eye: "Centre", "50% left". */
export function panText(pan: number): string {
  const words = formatPan(pan);
  return words[0]!.toUpperCase() + words.slice(1);
}

/** Pan from -1 (left) to 1 (right); "50% left" for screen readers. Double-click centres. */
export function PanSlider({ label, caption, pan, onChange }: Props) {
  const percent = Math.round(pan * 100);
  // The filled part runs from the centre to the thumb.
  const at = (percent + 100) / 2;
  return (
    <label className={`pan${caption ? " with-caption" : ""}`} title="Double-click to centre">
      {caption && (
        <span className="slider-caption" aria-hidden="true">
          {caption}
        </span>
      )}
      <input
        type="range"
        className="slider"
        min={-100}
        max={100}
        step={1}
        value={percent}
        aria-label={label}
        aria-valuetext={formatPan(pan)}
        style={{ "--from": `${Math.min(50, at)}%`, "--to": `${Math.max(50, at)}%` } as CSSProperties}
        onChange={(e) => onChange(Number(e.target.value) / 100)}
        onDoubleClick={() => onChange(0)}
      />
      <output className="pan-value" aria-hidden="true">
        {panText(pan)}
      </output>
    </label>
  );
}
