import type { CSSProperties, KeyboardEvent } from "react";
import { MAX_DB, MIN_DB, clamp, dbToFaderPosition, faderPositionToDb, formatDb, snapDb } from "../../audio/mixmath";

interface Props {
  /** The accessible name, saying whose volume it is: "Vocals volume", "Master volume". */
  label: string;
  /** A short visible word before the slider ("Vol"), when nothing beside it says what it is. */
  caption?: string;
  db: number;
  onChange: (db: number) => void;
}

const STEPS = 1000;

/** dB change for a key: arrows 0.5 dB (Shift: 3 dB), Page keys 6 dB, Home/End the ends. */
export function keyStepDb(key: string, shift: boolean, db: number): number | null {
  const arrow = shift ? 3 : 0.5;
  switch (key) {
    case "ArrowUp":
    case "ArrowRight":
      return clamp(db + arrow, MIN_DB, MAX_DB);
    case "ArrowDown":
    case "ArrowLeft":
      return clamp(db - arrow, MIN_DB, MAX_DB);
    case "PageUp":
      return clamp(db + 6, MIN_DB, MAX_DB);
    case "PageDown":
      return clamp(db - 6, MIN_DB, MAX_DB);
    case "Home":
      return MIN_DB;
    case "End":
      return MAX_DB;
    default:
      return null;
  }
}

/**
 * A fader in dB. Pointer travel follows the fader law (snapping to 0 dB near unity); keys move
 * in even dB steps, so the keyboard is never caught by the snap. Double-click resets to 0 dB.
 */
export function VolumeFader({ label, caption, db, onChange }: Props) {
  const text = formatDb(db);
  const position = dbToFaderPosition(db);
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    const next = keyStepDb(e.key, e.shiftKey, db);
    if (next === null) return;
    e.preventDefault();
    onChange(Math.round(next * 10) / 10);
  };
  return (
    <label className={`fader${caption ? " with-caption" : ""}`} title="Double-click to reset to 0 dB">
      {caption && (
        <span className="slider-caption" aria-hidden="true">
          {caption}
        </span>
      )}
      <input
        type="range"
        className="slider"
        min={0}
        max={STEPS}
        step={1}
        value={Math.round(position * STEPS)}
        aria-label={label}
        aria-valuetext={text}
        style={{ "--from": "0%", "--to": `${(position * 100).toFixed(2)}%` } as CSSProperties}
        onChange={(e) => onChange(snapDb(faderPositionToDb(Number(e.target.value) / STEPS)))}
        onKeyDown={onKeyDown}
        onDoubleClick={() => onChange(0)}
      />
      <output className="fader-value" aria-hidden="true">
        {text}
      </output>
    </label>
  );
}
