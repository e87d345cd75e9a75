// The song's tempo and key (the project's `analysis`): how they read, the corrections the user
// may make (PATCH /api/projects/{id}/analysis), and the limits the server checks too.
import { api, client } from "../../lib/api";
import { apiErrorFrom } from "../../lib/errors";
import type { components } from "../../client/schema";
import type { Project } from "../../lib/types";

export type Analysis = NonNullable<Project["analysis"]>;
export type AnalysisCorrection = components["schemas"]["AnalysisCorrection"];
export type KeyName = NonNullable<AnalysisCorrection["key"]>;

export const MIN_BPM = 20;
export const MAX_BPM = 300;
const TONICS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
/** The 24 keys as the server names them: sharps only, majors then minors. */
export const KEY_NAMES = [...TONICS.map((t) => `${t} major`), ...TONICS.map((t) => `${t} minor`)] as KeyName[];

export function isKeyName(value: string): value is KeyName {
  return (KEY_NAMES as string[]).includes(value);
}

/** 128 → "128", 127.98 → "128", 63.99 → "64", 97.35 → "97.4". */
export function formatBpm(bpm: number): string {
  return String(Math.round(bpm * 10) / 10);
}

export function analysisText(a: Analysis): string {
  return `${formatBpm(a.bpm)} BPM, ${a.key}`;
}

/** A BPM the server takes, rounded to hundredths; null when it is not one. */
export function parseBpm(text: string): number | null {
  const value = Number(text.trim().replace(",", "."));
  if (!text.trim() || !Number.isFinite(value) || value < MIN_BPM || value > MAX_BPM) return null;
  return Math.round(value * 100) / 100;
}

/** Half or twice the tempo, kept inside the range (null when it would leave it). */
export function scaledBpm(bpm: number, factor: number): number | null {
  const value = Math.round(bpm * factor * 100) / 100;
  return value >= MIN_BPM && value <= MAX_BPM ? value : null;
}

export async function correctAnalysis(projectId: string, body: AnalysisCorrection): Promise<Project> {
  const { data, error, response } = await client.PATCH("/api/projects/{project_id}/analysis", {
    params: { path: { project_id: projectId } },
    body,
  });
  if (!response.ok || !data) throw apiErrorFrom(response.status, error);
  return data;
}

/** How long after a project became ready its analysis may still be on its way. */
export const ANALYSIS_WAIT_MS = 60_000;
export const ANALYSIS_POLL_MS = 2_000;

export function fetchProject(projectId: string): Promise<Project> {
  return api.project(projectId);
}
