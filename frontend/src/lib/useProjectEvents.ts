import { useEffect, useState } from "react";
import { followProject } from "./api";
import type { Project } from "./types";

/**
 * The live state of a project over SSE, followed at the `events_url` its body gave
 * (null: don't follow). Starts from `initial` (null until the first message).
 */
export function useProjectEvents(eventsUrl: string | null, initial: Project | null = null): Project | null {
  const [project, setProject] = useState<Project | null>(initial);
  useEffect(() => {
    if (!eventsUrl) return;
    return followProject(eventsUrl, setProject);
  }, [eventsUrl]);
  return project;
}
