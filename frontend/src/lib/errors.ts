// Turns an API refusal ({"detail", "code"} with an HTTP status) into words for the user.

export interface ApiErrorBody {
  detail?: unknown;
  code?: string;
  limit?: string | null;
  plan?: string | null;
  value?: number | string | null;
  resets_at?: string | null;
  upgrade?: string | null;
}

/** A plan's refusal says which limit, on which plan, when it resets, and whether Pro lifts it. */
export interface PlanLimitFields {
  limit?: string | null;
  plan?: string | null;
  value?: number | string | null;
  resetsAt?: string | null;
  upgrade?: string | null;
}

export class ApiError extends Error {
  readonly limit: string | null;
  readonly plan: string | null;
  readonly value: number | string | null;
  readonly resetsAt: string | null;
  readonly upgrade: string | null;

  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    fields: PlanLimitFields = {},
  ) {
    super(detail);
    this.name = "ApiError";
    this.limit = fields.limit ?? null;
    this.plan = fields.plan ?? null;
    this.value = fields.value ?? null;
    this.resetsAt = fields.resetsAt ?? null;
    this.upgrade = fields.upgrade ?? null;
  }
}

const TITLES: Record<string, string> = {
  too_large: "The file is too big.",
  unsupported_media: "That file is not audio we can read.",
  corrupt_audio: "The audio file is damaged or could not be decoded.",
  too_long: "The song is too long.",
  invalid_options: "Some options were not accepted.",
  model_not_installed: "That separation model is not installed on this server.",
  not_found: "It no longer exists (deleted or expired).",
  conflict: "That is not possible in the project's current state.",
  not_ready: "The stems are not ready yet.",
  network: "Could not reach the server. Check your connection and try again.",
  rate_limited: "Too many requests; wait a moment and try again.",
  limit_reached: "You have used today's uploads.",
  not_in_plan: "That is not in your plan.",
  bad_credentials: "Could not sign in.",
  email_taken: "There is already an account with that email.",
  unauthenticated: "You are signed out.",
  signup_off: "Sign-up is off on this server.",
};

const CODE_BY_STATUS: Record<number, string> = {
  404: "not_found",
  409: "conflict",
  413: "too_large",
  415: "unsupported_media",
  422: "invalid_options",
  429: "rate_limited",
};

/** FastAPI's default 422 puts a list of {loc, msg} in detail; flatten it to one line. */
function detailText(detail: unknown): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        if (item && typeof item === "object" && "msg" in item) {
          const loc = "loc" in item && Array.isArray(item.loc) ? item.loc.filter((p: unknown) => p !== "body").join(".") : "";
          return loc ? `${loc}: ${String(item.msg)}` : String(item.msg);
        }
        return String(item);
      })
      .join("; ");
  }
  return "";
}

export function apiErrorFrom(status: number, body: unknown): ApiError {
  const b = (body && typeof body === "object" ? body : {}) as ApiErrorBody;
  const code = typeof b.code === "string" && b.code ? b.code : (CODE_BY_STATUS[status] ?? (status >= 500 ? "server_error" : "unknown"));
  const detail = detailText(b.detail) || (typeof body === "string" ? body.slice(0, 200) : "");
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  return new ApiError(status, code, detail, {
    limit: text(b.limit),
    plan: text(b.plan),
    value: typeof b.value === "number" || typeof b.value === "string" ? b.value : null,
    resetsAt: text(b.resets_at),
    upgrade: text(b.upgrade),
  });
}

/** "at 02:00" today, or "tomorrow at 02:00", or a date further off: in the user's time zone. */
export function resetTimeText(iso: string, now: Date = new Date()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  const time = at.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const day = (d: Date) => `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
  const tomorrow = new Date(now.getTime() + 86_400_000);
  if (day(at) === day(now)) return `today at ${time}`;
  if (day(at) === day(tomorrow)) return `tomorrow at ${time}`;
  return at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/**
 * Refusals whose detail from the server is the whole sentence ("This is not an audio file we
 * can read: upload MP3, WAV…", with the server's list of formats): shown alone, not after a
 * title that says the same thing again.
 */
const SAID_BY_THE_SERVER = new Set(["unsupported_media"]);

/** A short title plus the server's own detail (which names the limit or the install command). */
export function errorMessage(error: unknown): { title: string; detail: string } {
  if (error instanceof ApiError) {
    if (SAID_BY_THE_SERVER.has(error.code) && error.detail) return { title: error.detail, detail: "" };
    const title = TITLES[error.code] ?? (error.status >= 500 ? "The server had a problem." : `Request refused (HTTP ${error.status}).`);
    let detail = error.detail && error.detail !== title ? error.detail : "";
    if (error.resetsAt) {
      const when = resetTimeText(error.resetsAt);
      if (when) detail = `${detail}${detail ? " " : ""}It resets ${when}.`;
    }
    return { title, detail };
  }
  if (error instanceof TypeError) return { title: TITLES.network!, detail: "" };
  return { title: "Something went wrong.", detail: error instanceof Error ? error.message : String(error) };
}

export function errorText(error: unknown): string {
  const { title, detail } = errorMessage(error);
  return detail ? `${title} ${detail}` : title;
}

/** A size as the server writes it (storage.format_bytes): decimal units, one decimal. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "0 B";
  let value = bytes;
  for (const unit of ["B", "KB", "MB"]) {
    if (Math.round(value * 10) / 10 < 1000) {
      const text = unit === "B" ? String(Math.round(value)) : value.toFixed(1).replace(/\.0$/, "");
      return `${text} ${unit}`;
    }
    value /= 1000;
  }
  return `${value.toFixed(2)} GB`;
}
