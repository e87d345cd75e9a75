// The project with its newest known analysis. The worker analyses a song a moment after it is
// ready, when the project's event stream has already ended: a project ready without one is
// asked for again every few seconds for a minute. A correction's answer is newer than what
// the page holds, too.
import { useCallback, useEffect, useMemo, useState } from "react";
import type { Project } from "../../lib/types";
import { ANALYSIS_POLL_MS, ANALYSIS_WAIT_MS, fetchProject } from "./analysis";

function newer(a: Project, b: Project): boolean {
  return Date.parse(a.updated_at) >= Date.parse(b.updated_at);
}

export function useAnalysedProject(project: Project | null): [Project | null, (p: Project) => void] {
  const [latest, setLatest] = useState<Project | null>(null);
  const known = latest && project && latest.id === project.id && newer(latest, project) ? latest : null;
  const waiting = project !== null && project.status === "ready" && !project.analysis && !known?.analysis;
  const projectId = project?.id ?? null;
  const since = project?.updated_at ?? null;

  useEffect(() => {
    if (!waiting || projectId === null || since === null) return;
    if (Date.now() - Date.parse(since) >= ANALYSIS_WAIT_MS) return; // an older song: none coming
    let stopped = false;
    const timer = window.setInterval(() => {
      if (Date.now() - Date.parse(since) >= ANALYSIS_WAIT_MS) {
        window.clearInterval(timer);
        return;
      }
      fetchProject(projectId).then(
        (fresh) => {
          if (!stopped && fresh.analysis) setLatest(fresh);
        },
        () => undefined, // the next tick asks again
      );
    }, ANALYSIS_POLL_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [waiting, projectId, since]);

  const merged = useMemo(
    () => (project && known ? { ...project, analysis: known.analysis, updated_at: known.updated_at } : project),
    [project, known],
  );
  const update = useCallback((p: Project) => setLatest(p), []);
  return [merged, update];
}
