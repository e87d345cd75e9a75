// Words for a project's state, shared by the upload page, the library and the mixer.
import { formatTime } from "../audio/mixmath";
import type { ModelInfo, Project } from "./types";

export function etaText(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 1) return "almost done";
  return `about ${formatTime(Math.ceil(seconds))} left`;
}

type StatusFields = Pick<Project, "status" | "progress" | "eta_seconds" | "queue_position" | "error" | "stage">;

/** What a processing job is doing, when it is not yet (or no longer) separating. */
const STAGE_WORDS: Partial<Record<NonNullable<Project["stage"]>, string>> = {
  loading_model: "Loading model…",
  decoding: "Decoding the song…",
  writing: "Writing the stems…",
};

/** A job that has started but has no progress to show yet: its bar moves without a value. */
export function isStarting(p: Pick<Project, "status" | "progress" | "stage">): boolean {
  if (p.status !== "processing") return false;
  return p.stage === "loading_model" || p.stage === "decoding" || (!p.stage && p.progress <= 0);
}

/** The progress bar's value: null for a moving bar with no value (a job that is starting). */
export function progressValue(p: Pick<Project, "status" | "progress" | "stage">): number | null {
  if (p.status === "ready") return 100;
  return isStarting(p) ? null : p.progress;
}

export function statusText(p: StatusFields): string {
  switch (p.status) {
    case "queued": {
      const pos = p.queue_position;
      const eta = etaText(p.eta_seconds);
      const where = pos === 1 ? "next in line" : pos ? `position ${pos} in the queue` : "waiting";
      return `Queued, ${where}${eta ? `, ${eta}` : ""}`;
    }
    case "processing": {
      const stage = p.stage ? STAGE_WORDS[p.stage] : undefined;
      if (stage) return stage;
      if (isStarting(p)) return "Starting…";
      const eta = etaText(p.eta_seconds);
      return `Separating: ${Math.floor(p.progress)}%${eta ? `, ${eta}` : ""}`;
    }
    case "ready":
      return "Ready";
    case "failed":
      return p.error ? `Failed: ${p.error}` : "Failed";
    case "cancelled":
      return "Cancelled";
    case "expired":
      return "Expired (files removed)";
  }
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A status that changes rarely (every 25 %), for screen-reader announcements. */
export function coarseStatus(p: Pick<Project, "status" | "progress" | "queue_position" | "stage">): string {
  if (p.status === "processing") {
    if (p.stage === "loading_model") return "loading the model";
    if (p.stage === "decoding") return "decoding";
    if (p.stage === "writing") return "writing the stems";
    return `separating, ${Math.floor(p.progress / 25) * 25}% done`;
  }
  if (p.status === "queued") return p.queue_position ? `queued, position ${p.queue_position}` : "queued";
  return p.status;
}

/** "30 minutes", "1 minute", "45 seconds": the upload limit in words. */
export function formatDurationLimit(seconds: number): string {
  if (seconds >= 60) {
    const minutes = Math.round(seconds / 60);
    return `${minutes} minute${minutes === 1 ? "" : "s"}`;
  }
  const s = Math.round(seconds * 10) / 10;
  return `${s} second${s === 1 ? "" : "s"}`;
}

/**
 * The server's default model may be one the catalog does not list (a test model, say); offer
 * it anyway, first, since the server separates with it when asked.
 */
export function withServerDefault(models: ModelInfo[], defaultModel: string): ModelInfo[] {
  if (!defaultModel || models.some((m) => m.name === defaultModel)) return models;
  const extra: ModelInfo = {
    name: defaultModel,
    description: "This server's default model.",
    stems: [],
    installed: true,
    default: true,
    quality_sdr_db: null,
    speed_rtf: null,
    size_mb: null,
    low_quality: false,
    install_hint: "",
  };
  return [extra, ...models.map((m) => ({ ...m, default: false }))];
}
