import { useCallback, useEffect, useState } from "react";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorNotice } from "../../components/ErrorNotice";
import { LiveAnnouncement } from "../../components/LiveAnnouncement";
import { api } from "../../lib/api";
import { href } from "../../lib/router";
import { useDocumentTitle } from "../../lib/title";
import { TERMINAL_STATUSES, type Project } from "../../lib/types";
import { ProjectRow } from "./ProjectRow";

const POLL_MS = 2000;

export function LibraryPage() {
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [toDelete, setToDelete] = useState<Project | null>(null);
  const [announcement, setAnnouncement] = useState("");
  useDocumentTitle("Library");

  // State is set only when the answer comes (an effect may call this: nothing synchronous).
  const refresh = useCallback(
    (): Promise<void> =>
      api.listProjects(100, 0).then((list) => {
        setProjects(list.items);
        setTotal(list.total);
      }, setError),
    [],
  );

  useEffect(() => {
    void refresh();
  }, [refresh]);

  // Poll while anything is still moving; a list of SSE streams would cost a connection each.
  const busy = projects?.some((p) => !TERMINAL_STATUSES.includes(p.status)) ?? false;
  useEffect(() => {
    if (!busy) return;
    const timer = window.setInterval(() => void refresh(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [busy, refresh]);

  const act = async (label: string, action: () => Promise<unknown>) => {
    setError(null);
    try {
      await action();
      setAnnouncement(label);
    } catch (e) {
      setError(e);
    }
    await refresh();
  };

  return (
    <section className="page library-page" aria-labelledby="library-title">
      <div className="row">
        <h1 id="library-title">Library</h1>
        <button type="button" onClick={() => void refresh()}>
          Refresh
        </button>
      </div>
      <LiveAnnouncement text={announcement} />
      {error !== null && <ErrorNotice error={error} onDismiss={() => setError(null)} />}
      {projects === null ? (
        <p aria-busy="true">Loading…</p>
      ) : projects.length === 0 ? (
        <p>
          No songs yet. <a href={href({ name: "upload" })}>Upload one</a>.
        </p>
      ) : (
        <>
          <p className="muted small">{total} song{total === 1 ? "" : "s"}</p>
          <ul className="list" aria-label="Songs">
            {projects.map((p) => (
              <ProjectRow
                key={p.id}
                project={p}
                onCancel={() => void act(`Cancelled ${p.filename}`, () => api.cancel(p.id))}
                onRetry={() => void act(`Retrying ${p.filename}`, () => api.retry(p.id))}
                onDelete={() => setToDelete(p)}
              />
            ))}
          </ul>
        </>
      )}
      <ConfirmDialog
        open={toDelete !== null}
        title="Delete this song?"
        message={toDelete ? `“${toDelete.filename}” and all its stems and exports will be deleted. This cannot be undone.` : ""}
        confirmLabel="Delete"
        onCancel={() => setToDelete(null)}
        onConfirm={() => {
          const p = toDelete;
          setToDelete(null);
          if (p) void act(`Deleted ${p.filename}`, () => api.remove(p.id));
        }}
      />
    </section>
  );
}
