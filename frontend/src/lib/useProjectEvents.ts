import { useEffect, useState } from "react";
import { api, followProject } from "./api";
import { TERMINAL_STATUSES, type Project } from "./types";

/** How often a closed stream is followed again at a fresh link before giving up. */
const MAX_RENEWALS = 3;

/**
 * The live state of a project over SSE, followed at the `events_url` its body gave
 * (null: don't follow). Starts from `initial` (null until the first message). When the stream
 * closes for good (its signed link expired, say), the project is asked for again and its new
 * `events_url` followed (`projectId` names it; without one, the stream just ends).
 */
export function useProjectEvents(eventsUrl: string | null, initial: Project | null = null, projectId?: string): Project | null {
  const [project, setProject] = useState<Project | null>(initial);
  const [renewed, setRenewed] = useState<{ from: string; url: string; count: number } | null>(null);
  const url = renewed && renewed.from === eventsUrl ? renewed.url : eventsUrl;
  const count = renewed && renewed.from === eventsUrl ? renewed.count : 0;
  useEffect(() => {
    if (!url) return;
    let alive = true;
    const stop = followProject(url, setProject, () => {
      if (!projectId || !eventsUrl || count >= MAX_RENEWALS) return;
      api.project(projectId).then(
        (fresh) => {
          if (!alive) return;
          setProject(fresh);
          if (!TERMINAL_STATUSES.includes(fresh.status)) setRenewed({ from: eventsUrl, url: fresh.events_url, count: count + 1 });
        },
        () => {},
      );
    });
    return () => {
      alive = false;
      stop();
    };
  }, [url, eventsUrl, projectId, count]);
  return project;
}
