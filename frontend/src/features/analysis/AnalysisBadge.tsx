// The song's tempo and key in the mixer, with the user's corrections: halve or double the BPM,
// type it, pick the key, or go back to what was detected.
import { useId, useState } from "react";
import { ErrorNotice } from "../../components/ErrorNotice";
import type { Project } from "../../lib/types";
import { type AnalysisCorrection, correctAnalysis, formatBpm, isKeyName, KEY_NAMES, MAX_BPM, MIN_BPM, parseBpm, scaledBpm } from "./analysis";

interface Props {
  project: Project;
  onChange: (project: Project) => void;
}

export function AnalysisBadge({ project, onChange }: Props) {
  const a = project.analysis;
  const [editing, setEditing] = useState(false);
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const panelId = useId();
  const bpmId = useId();
  const keyId = useId();

  if (!a) {
    return (
      <p className="analysis-badge small" data-testid="analysis-badge">
        Tempo and key: {project.status === "ready" ? "not analysed" : "after the separation"}
      </p>
    );
  }

  const send = (body: AnalysisCorrection) => {
    setBusy(true);
    setError(null);
    correctAnalysis(project.id, body).then(
      (p) => {
        setBusy(false);
        onChange(p);
      },
      (e: unknown) => {
        setBusy(false);
        setError(e);
      },
    );
  };
  const half = scaledBpm(a.bpm, 0.5);
  const double = scaledBpm(a.bpm, 2);
  const typedBpm = parseBpm(typed);
  const confidence = Math.round(a.key_confidence * 100);

  return (
    <div className="analysis-badge" role="group" aria-label="Tempo and key" data-testid="analysis-badge">
      <span data-testid="analysis-text">
        <strong>{formatBpm(a.bpm)}</strong> BPM, <strong>{a.key}</strong>
        {a.corrected && <span className="small"> (corrected)</span>}
      </span>{" "}
      <button type="button" className="link-button" aria-expanded={editing} aria-controls={panelId} onClick={() => setEditing(!editing)}>
        {editing ? "Done" : "Correct"}
      </button>
      {editing && (
        <div id={panelId} className="analysis-editor">
          <p className="small">
            Detected: {formatBpm(a.bpm_detected)} BPM, {a.key_detected} ({confidence} % sure of the key). Bars assume 4/4.
          </p>
          <div className="row">
            <button type="button" disabled={busy || half === null} onClick={() => half !== null && send({ bpm: half })} aria-label={`Halve the tempo to ${half !== null ? formatBpm(half) : "–"} BPM`}>
              ½×
            </button>
            <button type="button" disabled={busy || double === null} onClick={() => double !== null && send({ bpm: double })} aria-label={`Double the tempo to ${double !== null ? formatBpm(double) : "–"} BPM`}>
              2×
            </button>
            <form
              className="row"
              onSubmit={(e) => {
                e.preventDefault();
                if (typedBpm !== null) send({ bpm: typedBpm });
              }}
            >
              <label htmlFor={bpmId}>BPM</label>
              <input
                id={bpmId}
                type="number"
                inputMode="decimal"
                min={MIN_BPM}
                max={MAX_BPM}
                step="0.01"
                placeholder={formatBpm(a.bpm)}
                value={typed}
                onChange={(e) => setTyped(e.target.value)}
                aria-invalid={typed !== "" && typedBpm === null}
                aria-describedby={`${bpmId}-range`}
              />
              <span id={`${bpmId}-range`} className="visually-hidden">
                {MIN_BPM} to {MAX_BPM}
              </span>
              <button type="submit" disabled={busy || typedBpm === null}>
                Set BPM
              </button>
            </form>
          </div>
          <div className="row">
            <label htmlFor={keyId}>Key</label>
            <select id={keyId} value={a.key} disabled={busy} onChange={(e) => isKeyName(e.target.value) && send({ key: e.target.value })}>
              {KEY_NAMES.map((k) => (
                <option key={k} value={k}>
                  {k}
                  {k === a.key_detected ? " (detected)" : ""}
                </option>
              ))}
            </select>
            <button type="button" disabled={busy || !a.corrected} onClick={() => send({ bpm: null, key: null })}>
              Reset to detected
            </button>
          </div>
          {error !== null && <ErrorNotice error={error} onDismiss={() => setError(null)} />}
        </div>
      )}
    </div>
  );
}
