import { useCallback, useId, useState } from "react";
import { api } from "../../lib/api";
import { allowsModel, modelLockReason } from "../../lib/plans";
import { usePlan } from "../../lib/session";
import type { ModelInfo } from "../../lib/types";
import { ModelInstall } from "./ModelInstall";
import { modelFacts } from "./modelText";

interface Props {
  models: ModelInfo[];
  value: string;
  onChange: (name: string) => void;
}

/**
 * Installed models are selectable; the others are listed disabled, each with an Install
 * button when the server can fetch it, and the commands that install it by hand. Each fact is
 * said once: the name (and "default") in the list, the description, then stems, quality and
 * where its figure comes from, speed and size.
 */
export function ModelSelect({ models, value, onChange }: Props) {
  const id = useId();
  // What the server said after an install, by name; the page's list is not re-read.
  const [updates, setUpdates] = useState<Record<string, ModelInfo>>({});
  const [installed, setInstalled] = useState("");
  const list = models.map((m) => (updates[m.name] ? { ...updates[m.name]!, default: m.default } : m));
  const selected = list.find((m) => m.name === value);
  const missing = list.filter((m) => !m.installed);
  // Models the plan lacks are listed, disabled, with the reason (Pro has them all).
  const plan = usePlan();
  const locked = list.filter((m) => !allowsModel(plan, m.name));

  const onInstalled = useCallback(
    (name: string) => {
      api
        .models()
        .then((fresh) => {
          setUpdates(Object.fromEntries(fresh.map((m) => [m.name, m])));
          if (fresh.some((m) => m.name === name && m.installed)) {
            setInstalled(name);
            onChange(name);
          }
        })
        // The list could not be re-read: the server said this one is installed; trust that.
        .catch(() => {
          const known = models.find((m) => m.name === name);
          if (known) setUpdates((all) => ({ ...all, [name]: { ...known, ...all[name], installed: true, install: null } }));
          setInstalled(name);
          onChange(name);
        });
    },
    [models, onChange],
  );

  return (
    <div className="field">
      <label htmlFor={id}>Separation model</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)} aria-describedby={`${id}-desc`}>
        {list.map((m) => (
          <option key={m.name} value={m.name} disabled={!m.installed || !allowsModel(plan, m.name)}>
            {m.name}
            {m.default ? " (default)" : ""}
            {!m.installed ? " (not installed)" : ""}
            {!allowsModel(plan, m.name) ? " (Pro)" : ""}
          </option>
        ))}
      </select>
      <div id={`${id}-desc`}>
        {locked.length > 0 && (
          <p className="muted small" data-testid="models-locked">
            {modelLockReason(plan, locked[0]!.name)}
          </p>
        )}
        {selected ? (
          <>
            <p className={selected.low_quality ? "warn" : undefined}>{selected.description}</p>
            <p className="muted small">{modelFacts(selected)}</p>
          </>
        ) : null}
      </div>
      <p className="small" role="status">
        {installed ? `${installed} is installed and selected.` : ""}
      </p>
      {missing.length > 0 && (
        <details className="small">
          <summary>
            {missing.length} more model{missing.length > 1 ? "s" : ""} not installed
          </summary>
          <ul className="list">
            {missing.map((m) => (
              <li key={m.name} className="card">
                <p>
                  <strong>{m.name}</strong>: {m.description}
                </p>
                <p className="muted">{modelFacts(m)}</p>
                {m.problem && <p className="warn">{m.problem}</p>}
                <ModelInstall model={m} onInstalled={onInstalled} />
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
