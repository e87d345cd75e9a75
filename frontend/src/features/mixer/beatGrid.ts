// The project's beat grid from its analysis (optional: older projects and ones still being
// analysed have none). Read defensively, as the field is newer than some servers.
import type { Project } from "../../lib/types";

export interface BeatGrid {
  beats: number[];
  downbeats: number[];
}

const times = (v: unknown): number[] =>
  Array.isArray(v) ? v.filter((t): t is number => typeof t === "number" && Number.isFinite(t) && t >= 0).sort((a, b) => a - b) : [];

export function beatGrid(project: Project): BeatGrid {
  const analysis = (project as { analysis?: unknown }).analysis;
  if (!analysis || typeof analysis !== "object") return { beats: [], downbeats: [] };
  const a = analysis as { beats?: unknown; downbeats?: unknown };
  return { beats: times(a.beats), downbeats: times(a.downbeats) };
}
