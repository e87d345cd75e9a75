// What a plan allows, in words, and why an option is locked.
import { formatBytes } from "./errors";
import type { Plan } from "./types";

/** The reason shown by stem and ZIP downloads the plan lacks. */
export const LOSSLESS_LOCKED = "FLAC stems and the ZIP are in Pro";

export function allowsModel(plan: Plan | null, name: string): boolean {
  return !plan || plan.models.includes("*") || plan.models.includes(name);
}

/** Why a model can't be picked on this plan, or null when it can. */
export function modelLockReason(plan: Plan | null, name: string): string | null {
  if (allowsModel(plan, name)) return null;
  // Shown once under the picker, whichever model is selected: it names the marked ones.
  return `Not in the ${plan!.title} plan: the models marked (Pro). The ${plan!.title} plan has ${plan!.models.join(", ")}; Pro has every model.`;
}

/** Why an export format can't be chosen, or null. */
export function formatLockReason(plan: Plan | null, format: string): string | null {
  if (!plan || plan.export_formats.includes(format)) return null;
  return `${format.toUpperCase()} is in Pro: the ${plan.title} plan exports ${plan.export_formats.map((f) => f.toUpperCase()).join(", ")}.`;
}

/** Why an MP3 bitrate can't be chosen, or null. */
export function bitrateLockReason(plan: Plan | null, kbps: number): string | null {
  if (!plan || kbps <= plan.max_mp3_kbps) return null;
  return `${kbps} kbps is in Pro: the ${plan.title} plan exports MP3 up to ${plan.max_mp3_kbps} kbps.`;
}

export function price(amount: number, currency: string): string {
  if (amount === 0) return "free";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(amount);
  } catch {
    return `${amount} ${currency}`;
  }
}

function hours(h: number): string {
  return h % 24 === 0 ? `${h / 24} day${h === 24 ? "" : "s"}` : `${h} h`;
}

/** The rows of the plan table: a label and each plan's value. */
export function planFacts(plan: Plan): [string, string][] {
  return [
    ["Uploads a day", plan.uploads_per_day === null ? "no limit" : String(plan.uploads_per_day)],
    ["Largest upload", formatBytes(plan.max_upload_mb * 1_000_000)],
    ["Longest song", `${plan.max_duration_minutes} min`],
    ["Separations at once", String(plan.concurrent_jobs)],
    ["Models", plan.models.includes("*") ? "all" : plan.models.join(", ")],
    ["Export formats", plan.export_formats.map((f) => f.toUpperCase()).join(", ")],
    ["MP3 up to", `${plan.max_mp3_kbps} kbps`],
    ["FLAC stems and ZIP", plan.lossless_stems ? "yes" : "no"],
    ["Songs kept for", hours(plan.retention_hours)],
  ];
}

/** "in 23 h", "in 29 days", "in 40 min", "soon"; null when there is no expiry. */
export function timeLeft(iso: string | null | undefined, now: number = Date.now()): string | null {
  if (!iso) return null;
  const ms = new Date(iso).getTime() - now;
  if (Number.isNaN(ms)) return null;
  if (ms <= 60_000) return "soon";
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `in ${minutes} min`;
  const h = Math.floor(minutes / 60);
  if (h < 48) return `in ${h} h`;
  return `in ${Math.floor(h / 24)} days`;
}
