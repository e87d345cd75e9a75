// The partial stems a processing project serves: a canonical WAV (44-byte header, 16-bit
// little-endian PCM) of the frames final so far, then only the new PCM through a byte Range.
// Parsed by hand: PCM needs no decodeAudioData.

export interface WavFormat {
  sampleRate: number;
  channels: number;
  /** Where the samples start in the file. */
  dataOffset: number;
}

/** The header's length in the files the server writes (and the start of every Range). */
export const WAV_HEADER_BYTES = 44;
const BYTES_PER_SAMPLE = 2;

function fourCC(view: DataView, at: number): string {
  return String.fromCharCode(view.getUint8(at), view.getUint8(at + 1), view.getUint8(at + 2), view.getUint8(at + 3));
}

/**
 * The format of a 16-bit PCM WAV, from its chunks (a canonical file has its "data" at byte 44;
 * others are walked chunk by chunk). Throws on anything else.
 */
export function parseWavHeader(bytes: ArrayBuffer): WavFormat {
  const view = new DataView(bytes);
  if (bytes.byteLength < 12 || fourCC(view, 0) !== "RIFF" || fourCC(view, 8) !== "WAVE") {
    throw new Error("not a WAV file");
  }
  let format: Omit<WavFormat, "dataOffset"> | null = null;
  let at = 12;
  while (at + 8 <= bytes.byteLength) {
    const id = fourCC(view, at);
    const size = view.getUint32(at + 4, true);
    if (id === "fmt ") {
      if (at + 8 + 16 > bytes.byteLength) break;
      const codec = view.getUint16(at + 8, true);
      const channels = view.getUint16(at + 10, true);
      const sampleRate = view.getUint32(at + 12, true);
      const bits = view.getUint16(at + 22, true);
      // 1: PCM; 0xFFFE: WAVE_FORMAT_EXTENSIBLE (its sub-format is PCM for 16-bit integer data)
      if ((codec !== 1 && codec !== 0xfffe) || bits !== 16 || channels < 1 || sampleRate <= 0) {
        throw new Error(`unsupported WAV format (codec ${codec}, ${bits}-bit, ${channels} channels)`);
      }
      format = { sampleRate, channels };
    } else if (id === "data") {
      if (!format) break;
      return { ...format, dataOffset: at + 8 };
    }
    at += 8 + size + (size % 2); // chunks are padded to an even length
  }
  throw new Error("WAV header incomplete");
}

/** The byte a Range starts at to get the PCM after the first `frames` frames. */
export function rangeStartFor(frames: number, channels = 2): number {
  return WAV_HEADER_BYTES + frames * channels * BYTES_PER_SAMPLE;
}

/** Whole frames in `byteLength` bytes of PCM (a cut frame at the end is left for the next fetch). */
export function wholeFrames(byteLength: number, channels: number): number {
  return Math.floor(byteLength / (channels * BYTES_PER_SAMPLE));
}

/**
 * Interleaved 16-bit little-endian PCM into one Float32Array per channel (sample / 32768), whole
 * frames only. `offset` is where the samples start in `bytes`.
 */
export function pcm16ToFloat32(bytes: ArrayBuffer, channels: number, offset = 0): Float32Array[] {
  const frames = wholeFrames(bytes.byteLength - offset, channels);
  const view = new DataView(bytes, offset, frames * channels * BYTES_PER_SAMPLE);
  const out = Array.from({ length: channels }, () => new Float32Array(frames));
  for (let i = 0, at = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++, at += BYTES_PER_SAMPLE) out[c]![i] = view.getInt16(at, true) / 32768;
  }
  return out;
}

/** The start byte of a `Content-Range: bytes a-b/total` answer (null when absent or malformed). */
export function contentRangeStart(header: string | null): number | null {
  const match = header ? /^bytes\s+(\d+)-\d+\/(?:\d+|\*)$/i.exec(header.trim()) : null;
  return match ? Number(match[1]) : null;
}
