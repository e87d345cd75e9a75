// Turns an API refusal ({"detail", "code"} with an HTTP status) into words for the user.

export interface ApiErrorBody {
  detail?: unknown;
  code?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
    this.name = "ApiError";
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
  return new ApiError(status, code, detail);
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
    return { title, detail: error.detail && error.detail !== title ? error.detail : "" };
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
