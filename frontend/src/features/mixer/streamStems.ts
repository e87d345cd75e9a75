// Fetches a processing project's stems as they grow: each stem's preview link serves the part
// that is final so far as a WAV; the first request takes it whole, later ones only the new PCM
// (Range: bytes=<44 + 4 x frames we have>-).
import { contentRangeStart, parseWavHeader, pcm16ToFloat32, rangeStartFor, type WavFormat } from "../../audio/pcm";
import { apiErrorFrom } from "../../lib/errors";
import type { StemInfo } from "../../lib/types";

export interface StemPart {
  format: WavFormat;
  /** The new frames, one array per channel (empty when nothing is new). */
  channels: Float32Array[];
}

/** The link no longer serves the partial WAV (the project is ready: it is the MP3 now). */
export class NotPartialWav extends Error {}

async function refusal(response: Response): Promise<Error> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // not JSON
  }
  return apiErrorFrom(response.status, body);
}

/**
 * The frames of the stem at `url` after the first `have` (all of them when `format` is not
 * known yet). The server's answer decides: 206 from the asked byte, 416 nothing new, 200 the
 * whole file again (a server or proxy that ignores Range).
 */
export async function fetchStemPart(url: string, have: number, format: WavFormat | null, signal: AbortSignal): Promise<StemPart | null> {
  const ranged = format !== null && have > 0;
  const from = ranged ? rangeStartFor(have, format.channels) : 0;
  const response = await fetch(url, { signal, cache: "no-store", headers: ranged ? { Range: `bytes=${from}-` } : {} });
  if (response.status === 416) return format ? { format, channels: [] } : null;
  if (!response.ok) throw await refusal(response);
  if (!/^audio\/(x-)?wav/i.test(response.headers.get("Content-Type") ?? "")) throw new NotPartialWav();
  const bytes = await response.arrayBuffer();
  if (response.status === 206 && format) {
    const start = contentRangeStart(response.headers.get("Content-Range"));
    if (start !== from) throw new Error(`asked for bytes from ${from}, got ${start ?? "no range"}`);
    return { format, channels: pcm16ToFloat32(bytes, format.channels) };
  }
  const whole = parseWavHeader(bytes);
  if (format && (whole.sampleRate !== format.sampleRate || whole.channels !== format.channels)) {
    throw new Error("the stem's format changed while it was separating");
  }
  // The whole file: skip the frames we have.
  const skip = whole.dataOffset + have * whole.channels * 2;
  return { format: whole, channels: pcm16ToFloat32(bytes, whole.channels, Math.min(skip, bytes.byteLength)) };
}

/**
 * The stems of one processing project, pulled as they grow. `pull()` fetches what is new in
 * every stem (all at once); asked again while a round runs, it runs one more round after it.
 * Each stem's new frames go to `onPart` in order.
 */
export class StemStreams {
  private readonly have: Record<string, { format: WavFormat | null; frames: number }> = {};
  private links: Record<string, string> = {};
  private round: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    stems: readonly StemInfo[],
    private readonly signal: AbortSignal,
    private readonly onPart: (name: string, part: StemPart) => void,
  ) {
    for (const stem of stems) this.have[stem.name] = { format: null, frames: 0 };
    this.setLinks(stems);
  }

  /** The links of the latest body (signed links are renewed). */
  setLinks(stems: readonly StemInfo[]): void {
    this.links = Object.fromEntries(stems.map((s) => [s.name, s.preview_url]));
  }

  /** Frames received of stem `name`. */
  frames(name: string): number {
    return this.have[name]?.frames ?? 0;
  }

  /** Fetches what is new; resolves after the round that includes this call (rejects on its error). */
  pull(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.round) {
      this.again = true;
      return this.round;
    }
    this.round = (async () => {
      try {
        do {
          this.again = false;
          await this.pullRound();
        } while (this.again && !this.stopped && !this.signal.aborted);
      } finally {
        this.round = null;
      }
    })();
    return this.round;
  }

  /** No more pulls (the project is ready: its links serve the MP3 now). */
  stop(): void {
    this.stopped = true;
  }

  private async pullRound(): Promise<void> {
    await Promise.all(
      Object.entries(this.have).map(async ([name, have]) => {
        const url = this.links[name];
        if (!url) return;
        let part: StemPart | null;
        try {
          part = await fetchStemPart(url, have.frames, have.format, this.signal);
        } catch (error) {
          if (error instanceof NotPartialWav) {
            this.stop();
            return;
          }
          throw error;
        }
        if (!part || this.signal.aborted) return;
        have.format = part.format;
        have.frames += part.channels[0]?.length ?? 0;
        this.onPart(name, part);
      }),
    );
  }
}
