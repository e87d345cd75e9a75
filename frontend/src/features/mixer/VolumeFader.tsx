import type { KeyboardEvent } from "react";
import { MAX_DB, MIN_DB, clamp, dbToFaderPosition, faderPositionToDb, formatDb, snapDb } from "../../audio/mixmath";

interface Props {
  label: string;
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
export function VolumeFader({ label, db, onChange }: Props) {
  const text = formatDb(db);
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    const next = keyStepDb(e.key, e.shiftKey, db);
    if (next === null) return;
    e.preventDefault();
    onChange(Math.round(next * 10) / 10);
  };
  return (
    <label className="fader">
      <span className="visually-hidden">{label}</span>
      <input
        type="range"
        min={0}
        max={STEPS}
        step={1}
        value={Math.round(dbToFaderPosition(db) * STEPS)}
        aria-valuetext={text}
        onChange={(e) => onChange(snapDb(faderPositionToDb(Number(e.target.value) / STEPS)))}
        onKeyDown={onKeyDown}
        onDoubleClick={() => onChange(0)}
      />
      <output className="fader-value" aria-hidden="true">{text}</output>
    </label>
  );
}
