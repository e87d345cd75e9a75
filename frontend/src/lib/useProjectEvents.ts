import { useEffect, useState } from "react";
import { followProject } from "./api";
import type { Project } from "./types";

/** The live state of a project over SSE (null until the first message). */
export function useProjectEvents(projectId: string | null, initial: Project | null = null): Project | null {
  const [project, setProject] = useState<Project | null>(initial);
  useEffect(() => {
    if (!projectId) return;
    return followProject(projectId, setProject);
  }, [projectId]);
  return project;
}
