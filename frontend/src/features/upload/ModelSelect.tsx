import { useId } from "react";
import { modelHint } from "../../lib/status";
import type { ModelInfo } from "../../lib/types";

interface Props {
  models: ModelInfo[];
  value: string;
  onChange: (name: string) => void;
}

/** Installed models are selectable; the others are listed disabled, with how to install them. */
export function ModelSelect({ models, value, onChange }: Props) {
  const id = useId();
  const selected = models.find((m) => m.name === value);
  const missing = models.filter((m) => !m.installed);
  return (
    <div className="field">
      <label htmlFor={id}>Separation model</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)} aria-describedby={`${id}-desc`}>
        {models.map((m) => (
          <option key={m.name} value={m.name} disabled={!m.installed}>
            {m.name}
            {m.low_quality ? " (low quality)" : ""}
            {m.default ? " (default)" : ""}
            {!m.installed ? " (not installed)" : ""}
          </option>
        ))}
      </select>
      <div id={`${id}-desc`} className="muted small">
        {selected ? (
          <>
            <span>{selected.description}</span> <span>{modelHint(selected)}</span>
            {selected.low_quality && <strong className="warn"> Lower quality than the Demucs models.</strong>}
          </>
        ) : null}
      </div>
      {missing.length > 0 && (
        <details className="small">
          <summary>{missing.length} more model{missing.length > 1 ? "s" : ""} not installed</summary>
          <ul>
            {missing.map((m) => (
              <li key={m.name}>
                <strong>{m.name}</strong>: {m.description} <code>{m.install_hint}</code>
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
