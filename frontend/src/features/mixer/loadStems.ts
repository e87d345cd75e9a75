// Fetches every stem's preview (MP3) and decodes them all in parallel.
import type { StemInfo } from "../../lib/types";
import { apiErrorFrom } from "../../lib/errors";

export async function fetchAndDecode(
  ctx: BaseAudioContext,
  url: string,
  signal: AbortSignal,
): Promise<AudioBuffer> {
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
  const bytes = await response.arrayBuffer();
  return ctx.decodeAudioData(bytes);
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
      const buffer = await fetchAndDecode(ctx, stem[variant], signal);
      onDecoded?.(stem.name);
      return [stem.name, buffer] as const;
    }),
  );
  return Object.fromEntries(decoded);
}
