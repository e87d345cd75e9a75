import { dbToFaderPosition, faderPositionToDb, formatDb, snapDb } from "../../audio/mixmath";

interface Props {
  label: string;
  db: number;
  onChange: (db: number) => void;
}

const STEPS = 1000;

/** A fader in dB: position follows the fader law; screen readers hear "-6 dB". Double-click resets. */
export function VolumeFader({ label, db, onChange }: Props) {
  const text = formatDb(db);
  return (
    <label className="fader">
      <span className="visually-hidden">{label}</span>
      <input
        type="range"
        min={0}
        max={STEPS}
        step={5}
        value={Math.round(dbToFaderPosition(db) * STEPS)}
        aria-valuetext={text}
        onChange={(e) => onChange(snapDb(faderPositionToDb(Number(e.target.value) / STEPS)))}
        onDoubleClick={() => onChange(0)}
      />
      <output className="fader-value" aria-hidden="true">{text}</output>
    </label>
  );
}
