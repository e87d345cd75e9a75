import { useState, type KeyboardEvent } from "react";
import type { LoopRegion } from "../../audio/engine";
import { formatTime } from "../../audio/mixmath";
import type { Section } from "./mixState";
import { acceptSuggestions, removeSection, renameSection, sectionLoop, suggestSections } from "./sections";

interface Props {
  sections: Section[];
  duration: number;
  loop: LoopRegion | null;
  loopEnabled: boolean;
  /** The beat grid's bars (empty without analysis): suggestions come from them. */
  downbeats: readonly number[];
  onChange: (sections: Section[], key?: string) => void;
  onAdd: () => void;
  onJump: (seconds: number) => void;
  onLoop: (region: LoopRegion) => void;
  onPrevious: () => void;
  onNext: () => void;
}

/** The song's sections as a list: name (editable), go to, loop, remove; add and suggestions. */
export function SectionsPanel({ sections, duration, loop, loopEnabled, downbeats, onChange, onAdd, onJump, onLoop, onPrevious, onNext }: Props) {
  const [suggested, setSuggested] = useState<Section[] | null>(null);
  const suggest = () => setSuggested(suggestSections(downbeats, sections));
  const accept = (items: Section[]) => {
    onChange(acceptSuggestions(sections, items));
    setSuggested((s) => (s ? s.filter((x) => !items.includes(x)) : s));
  };
  return (
    <section className="sections-panel" aria-labelledby="sections-title" data-testid="sections">
      <div className="sections-head">
        <h2 id="sections-title">Sections</h2>
        <button type="button" onClick={onAdd} title="Add a section at the playhead (N)" aria-keyshortcuts="N" data-testid="add-section">
          Add section
        </button>
        <button type="button" onClick={onPrevious} disabled={sections.length === 0} title="Go to the previous section ([)" aria-keyshortcuts="[">
          Previous
        </button>
        <button type="button" onClick={onNext} disabled={sections.length === 0} title="Go to the next section (])" aria-keyshortcuts="]">
          Next
        </button>
        {downbeats.length > 0 && (
          <button type="button" onClick={suggest} title="Suggest sections every 8 bars of the beat grid">
            Suggest sections
          </button>
        )}
      </div>
      {suggested && (
        <div className="section-suggestions" role="group" aria-label="Suggested sections">
          {suggested.length === 0 ? (
            <p className="muted small">No more suggestions.</p>
          ) : (
            <ul>
              {suggested.map((s) => (
                <li key={s.start}>
                  {s.name} at {formatTime(s.start)}{" "}
                  <button type="button" className="link-button" onClick={() => accept([s])} aria-label={`Add ${s.name} at ${formatTime(s.start)}`}>
                    Add
                  </button>
                </li>
              ))}
            </ul>
          )}
          {suggested.length > 0 && (
            <button type="button" onClick={() => accept(suggested)}>
              Add all
            </button>
          )}{" "}
          <button type="button" className="link-button" onClick={() => setSuggested(null)}>
            Close suggestions
          </button>
        </div>
      )}
      {sections.length === 0 ? (
        <p className="muted small">No sections yet: press N, or Add section, to mark one at the playhead.</p>
      ) : (
        <ol className="section-list">
          {sections.map((s, i) => {
            const region = sectionLoop(sections, i, duration);
            const looped = region !== null && loop !== null && loopEnabled && Math.abs(loop.start - region.start) < 1e-3 && Math.abs(loop.end - region.end) < 1e-3;
            const label = s.name || `Section ${i + 1}`;
            return (
              <li key={`${s.start}:${s.name}`} className="section-row" data-testid="section-row">
                <button type="button" className="link-button section-time" onClick={() => onJump(s.start)} aria-label={`Go to ${label} at ${formatTime(s.start)}`}>
                  {formatTime(s.start)}
                </button>
                <SectionName name={s.name} label={`Name of the section at ${formatTime(s.start)}`} onRename={(name) => onChange(renameSection(sections, i, name))} />
                <button type="button" className="toggle" aria-pressed={looped} disabled={!region} onClick={() => region && onLoop(region)} aria-label={`Loop ${label}`}>
                  Loop
                </button>
                <button type="button" className="icon" onClick={() => onChange(removeSection(sections, i))} aria-label={`Remove ${label}`} title={`Remove ${label}`}>
                  ×
                </button>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}

/** A name field that changes the mix once, when the user is done (Enter or leaving it); Escape reverts. */
function SectionName({ name, label, onRename }: { name: string; label: string; onRename: (name: string) => void }) {
  const [draft, setDraft] = useState(name);
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === "Enter") onRename(draft);
    if (e.key === "Escape") setDraft(name);
  };
  return (
    <input
      type="text"
      className="section-name"
      value={draft}
      maxLength={80}
      aria-label={label}
      onChange={(e) => setDraft(e.target.value)}
      onBlur={() => draft !== name && onRename(draft)}
      onKeyDown={onKeyDown}
    />
  );
}
