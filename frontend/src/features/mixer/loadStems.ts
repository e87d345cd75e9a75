// Fetches every stem's preview (MP3; a 16-bit WAV while the server has not encoded it yet)
// and decodes them all in parallel.
import { mp3CutOffset, sniffSampleRate } from "../../audio/sniff";
import { apiErrorFrom } from "../../lib/errors";
import type { StemInfo } from "../../lib/types";

/**
 * The context to decode with: one at the file's own sample rate when the header says it, so
 * decodeAudioData does not resample (on a 48 kHz device that costs several times the decode).
 * An AudioBuffer is not tied to a context; the live one plays it, resampling as it goes.
 */
function decoderFor(ctx: BaseAudioContext, bytes: ArrayBuffer): BaseAudioContext {
  const rate = sniffSampleRate(bytes);
  if (!rate || rate === ctx.sampleRate || typeof OfflineAudioContext === "undefined") return ctx;
  try {
    return new OfflineAudioContext(2, 1, rate);
  } catch {
    return ctx; // a rate this browser can't make a context for
  }
}

export async function fetchBytes(url: string, signal: AbortSignal): Promise<ArrayBuffer> {
  const response = await fetch(url, { signal });
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      // not JSON
    }
    throw apiErrorFrom(response.status, body);
  }
  return response.arrayBuffer();
}

/** Decodes (and detaches) `bytes`; pass a copy to keep them. */
export function decodeBytes(ctx: BaseAudioContext, bytes: ArrayBuffer): Promise<AudioBuffer> {
  return decoderFor(ctx, bytes).decodeAudioData(bytes);
}

export async function fetchAndDecode(ctx: BaseAudioContext, url: string, signal: AbortSignal): Promise<AudioBuffer> {
  return decodeBytes(ctx, await fetchBytes(url, signal));
}

export async function loadStemBuffers(
  ctx: BaseAudioContext,
  stems: readonly StemInfo[],
  signal: AbortSignal,
  onDecoded?: (name: string) => void,
  variant: "preview_url" | "url" = "preview_url",
): Promise<Record<string, AudioBuffer>> {
  const decoded = await Promise.all(
    stems.map(async (stem) => {
      // No lossless master on this plan (url null): the preview is what there is.
      const buffer = await fetchAndDecode(ctx, stem[variant] ?? stem.preview_url, signal);
      onDecoded?.(stem.name);
      return [stem.name, buffer] as const;
    }),
  );
  return Object.fromEntries(decoded);
}

/** How much of each stem to decode first so playback can start (see loadStemsProgressively). */
export const HEAD_SECONDS = 30;
const PROGRESSIVE_MIN_SECONDS = 2 * HEAD_SECONDS;

export interface ProgressiveStems {
  /** Playable now: the first HEAD_SECONDS of every stem, or the whole stems for short songs. */
  first: Record<string, AudioBuffer>;
  /** The complete stems, or null when `first` already is complete. */
  rest: Promise<Record<string, AudioBuffer>> | null;
}

/**
 * Decoding in the browser runs on one thread, so a long song's stems take seconds to decode.
 * For songs over a minute, decode each stem's first 30 s (the MP3 cut at a frame boundary
 * decodes to the same first samples) so the mixer can play at once, then decode the whole
 * stems and let the engine swap them in seamlessly.
 */
export async function loadStemsProgressively(
  ctx: BaseAudioContext,
  stems: readonly StemInfo[],
  durationSeconds: number | null,
  signal: AbortSignal,
  onDecoded?: (name: string) => void,
): Promise<ProgressiveStems> {
  const progressive = (durationSeconds ?? 0) >= PROGRESSIVE_MIN_SECONDS;
  const fetched = await Promise.all(
    stems.map(async (stem) => {
      const bytes = await fetchBytes(stem.preview_url, signal);
      const cut = progressive ? mp3CutOffset(bytes, HEAD_SECONDS) : null;
      const buffer = await decodeBytes(ctx, cut !== null ? bytes.slice(0, cut) : bytes);
      onDecoded?.(stem.name);
      return { name: stem.name, bytes, partial: cut !== null, buffer };
    }),
  );
  const first = Object.fromEntries(fetched.map((f) => [f.name, f.buffer]));
  if (!fetched.some((f) => f.partial)) return { first, rest: null };
  const rest = Promise.all(
    fetched.map(async (f) => [f.name, f.partial ? await decodeBytes(ctx, f.bytes) : f.buffer] as const),
  ).then((entries) => Object.fromEntries(entries));
  return { first, rest };
}
