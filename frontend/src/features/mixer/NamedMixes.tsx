import { useEffect, useState, type FormEvent } from "react";
import { ErrorNotice } from "../../components/ErrorNotice";
import { ApiError } from "../../lib/errors";
import { loadOpenedMixId, saveOpenedMixId } from "./mixStorage";
import { lastOpened, mixesApi, type NamedMix } from "./mixesApi";
import { parseMixState, sameSettings, toSavedSettings, type MixState } from "./mixState";

interface Props {
  projectId: string;
  stemNames: readonly string[];
  duration: number;
  mix: MixState;
  /** A mix opened: `asStep` when the user chose it (undoable), not when loaded at start. */
  onOpen: (mix: MixState, asStep: boolean) => void;
}

const byName = (a: NamedMix, b: NamedMix) => a.name.localeCompare(b.name);

/**
 * The project's named mixes on the server: save the current mix as a name, save over the open
 * one, open, rename, delete. The mix opened last opens with the mixer, unless the working mix
 * here already began as it (then its unsaved moves stay).
 */
export function NamedMixes({ projectId, stemNames, duration, mix, onOpen }: Props) {
  const [mixes, setMixes] = useState<NamedMix[] | null>(null);
  const [currentId, setCurrentId] = useState<string | null>(() => loadOpenedMixId(projectId));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [newName, setNewName] = useState("");
  const [renaming, setRenaming] = useState<{ id: string; name: string } | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [status, setStatus] = useState("");

  const parse = (m: NamedMix) => parseMixState(m.settings, stemNames, duration);
  const setCurrent = (id: string | null) => {
    setCurrentId(id);
    saveOpenedMixId(projectId, id);
  };

  useEffect(() => {
    let live = true;
    mixesApi.list(projectId).then(
      (list) => {
        if (!live) return;
        setMixes([...list].sort(byName));
        const last = lastOpened(list);
        if (last && last.id !== loadOpenedMixId(projectId)) {
          onOpen(parseMixState(last.settings, stemNames, duration), false);
          setCurrentId(last.id);
          saveOpenedMixId(projectId, last.id);
        }
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
    // Once per project: the list is ours after that; onOpen and the names are read once.
    // eslint-disable-next-line react-hooks/exhaustive-deps -- keyed by the project alone
  }, [projectId]);

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const replaceInList = (m: NamedMix) => setMixes((list) => [...(list ?? []).filter((x) => x.id !== m.id), m].sort(byName));

  const current = mixes?.find((m) => m.id === currentId) ?? null;
  const unsaved = current !== null && !sameSettings(parse(current), mix);

  const saveAs = (e: FormEvent) => {
    e.preventDefault();
    const name = newName.trim();
    if (!name) return;
    void run(async () => {
      try {
        const created = await mixesApi.create(projectId, name, toSavedSettings(mix));
        const opened = await mixesApi.open(projectId, created.id).catch(() => created);
        replaceInList(opened);
        setCurrent(created.id);
        setNewName("");
        setStatus(`Saved the mix as ${name}.`);
      } catch (err) {
        if (err instanceof ApiError && err.code === "name_taken") {
          throw new ApiError(err.status, err.code, `There is already a mix called “${name}”: choose another name, or open it and save over it.`);
        }
        throw err;
      }
    });
  };
  const saveOver = () =>
    current &&
    void run(async () => {
      replaceInList(await mixesApi.update(projectId, current.id, { settings: toSavedSettings(mix) }));
      setStatus(`Saved ${current.name}.`);
    });
  const open = (m: NamedMix) =>
    void run(async () => {
      const opened = await mixesApi.open(projectId, m.id);
      replaceInList(opened);
      setCurrent(opened.id);
      onOpen(parse(opened), true);
      setStatus(`Opened ${opened.name}.`);
    });
  const rename = (e: FormEvent) => {
    e.preventDefault();
    if (!renaming) return;
    const name = renaming.name.trim();
    if (!name) return;
    void run(async () => {
      replaceInList(await mixesApi.update(projectId, renaming.id, { name }));
      setRenaming(null);
      setStatus(`Renamed to ${name}.`);
    });
  };
  const remove = (m: NamedMix) =>
    void run(async () => {
      await mixesApi.remove(projectId, m.id);
      setMixes((list) => (list ?? []).filter((x) => x.id !== m.id));
      if (m.id === currentId) setCurrent(null);
      setDeleting(null);
      setStatus(`Deleted ${m.name}.`);
    });

  return (
    <section className="named-mixes" aria-labelledby="mixes-title" data-testid="named-mixes">
      <div className="named-mixes-head">
        <h2 id="mixes-title">Mixes</h2>
        <span className="muted small" data-testid="current-mix">
          {current ? `${current.name}${unsaved ? " (unsaved changes)" : ""}` : "Not saved as a named mix"}
        </span>
        {current && (
          <button type="button" onClick={saveOver} disabled={busy || !unsaved} aria-label={`Save over ${current.name}`}>
            Save
          </button>
        )}
      </div>
      {error !== null && <ErrorNotice error={error} onDismiss={() => setError(null)} />}
      <p className="visually-hidden" role="status">
        {status}
      </p>
      <form className="save-as" onSubmit={saveAs}>
        <label>
          <span className="visually-hidden">Name of the new mix</span>
          <input type="text" value={newName} maxLength={100} placeholder="Mix name" onChange={(e) => setNewName(e.target.value)} data-testid="mix-name" />
        </label>
        <button type="submit" disabled={busy || !newName.trim()}>
          Save as new mix
        </button>
      </form>
      {mixes === null ? (
        error === null && <p className="muted small">Loading mixes…</p>
      ) : mixes.length === 0 ? (
        <p className="muted small">No named mixes yet.</p>
      ) : (
        <ul className="mix-list">
          {mixes.map((m) => (
            <li key={m.id} className="mix-row" data-testid="mix-row" aria-current={m.id === currentId ? "true" : undefined}>
              {renaming?.id === m.id ? (
                <form className="mix-rename" onSubmit={rename}>
                  <input
                    type="text"
                    value={renaming.name}
                    maxLength={100}
                    aria-label={`New name for ${m.name}`}
                    autoFocus
                    onChange={(e) => setRenaming({ id: m.id, name: e.target.value })}
                    onKeyDown={(e) => e.key === "Escape" && setRenaming(null)}
                  />
                  <button type="submit" disabled={busy}>
                    Rename
                  </button>
                  <button type="button" className="link-button" onClick={() => setRenaming(null)}>
                    Cancel
                  </button>
                </form>
              ) : deleting === m.id ? (
                <>
                  <span className="mix-name">Delete {m.name}?</span>
                  <button type="button" className="danger" onClick={() => remove(m)} disabled={busy}>
                    Delete
                  </button>
                  <button type="button" className="link-button" onClick={() => setDeleting(null)}>
                    Keep
                  </button>
                </>
              ) : (
                <>
                  <span className="mix-name">
                    {m.name}
                    {m.id === currentId && <span className="muted small"> (open)</span>}
                  </span>
                  <button type="button" onClick={() => open(m)} disabled={busy} aria-label={`Open ${m.name}`}>
                    Open
                  </button>
                  <button type="button" className="link-button" onClick={() => setRenaming({ id: m.id, name: m.name })} aria-label={`Rename ${m.name}`}>
                    Rename
                  </button>
                  <button type="button" className="link-button" onClick={() => setDeleting(m.id)} aria-label={`Delete ${m.name}`}>
                    Delete
                  </button>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
