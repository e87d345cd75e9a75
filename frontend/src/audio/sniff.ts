// Reads an audio file's sample rate from its header (MP3, FLAC, WAV), so the mixer can decode
// at the file's own rate: decodeAudioData resamples to its context's rate, and that resampling
// costs several times the decode itself; playback resamples cheaply on the audio thread instead.

const MPEG_RATES: Record<number, readonly number[]> = {
  3: [44100, 48000, 32000], // MPEG-1
  2: [22050, 24000, 16000], // MPEG-2
  0: [11025, 12000, 8000], // MPEG-2.5
};

function id3Size(b: Uint8Array): number {
  if (b.length < 10 || b[0] !== 0x49 || b[1] !== 0x44 || b[2] !== 0x33) return 0;
  return 10 + ((b[6]! & 0x7f) << 21) + ((b[7]! & 0x7f) << 14) + ((b[8]! & 0x7f) << 7) + (b[9]! & 0x7f);
}

function mp3Rate(b: Uint8Array): number | null {
  const limit = Math.min(b.length - 4, id3Size(b) + 64 * 1024);
  for (let i = id3Size(b); i < limit; i++) {
    if (b[i] !== 0xff || (b[i + 1]! & 0xe0) !== 0xe0) continue;
    const version = (b[i + 1]! >> 3) & 3;
    const layer = (b[i + 1]! >> 1) & 3;
    const bitrate = b[i + 2]! >> 4;
    const rateIndex = (b[i + 2]! >> 2) & 3;
    if (version === 1 || layer === 0 || bitrate === 0 || bitrate === 15 || rateIndex === 3) continue;
    return MPEG_RATES[version]![rateIndex]!;
  }
  return null;
}

function flacRate(b: Uint8Array): number | null {
  // "fLaC", then the STREAMINFO block: 4-byte block header, sample rate in bits 80..99.
  if (b.length < 42 || b[0] !== 0x66 || b[1] !== 0x4c || b[2] !== 0x61 || b[3] !== 0x43) return null;
  const s = 8;
  return ((b[s + 10]! << 12) | (b[s + 11]! << 4) | (b[s + 12]! >> 4)) >>> 0 || null;
}

function wavRate(b: Uint8Array): number | null {
  const text = (o: number) => String.fromCharCode(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!);
  if (b.length < 28 || text(0) !== "RIFF" || text(8) !== "WAVE") return null;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let o = 12; o + 16 <= b.length; ) {
    const size = view.getUint32(o + 4, true);
    if (text(o) === "fmt ") return view.getUint32(o + 12, true) || null;
    o += 8 + size + (size & 1);
  }
  return null;
}

export function sniffSampleRate(bytes: ArrayBuffer | Uint8Array): number | null {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return flacRate(b) ?? wavRate(b) ?? mp3Rate(b);
}

const MPEG_BITRATES_V1_L3 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320] as const;
const MPEG_BITRATES_V2_L3 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160] as const;

/**
 * The byte offset of the first MPEG layer III frame boundary at or after `seconds` of audio,
 * or null when the bytes are not such an MP3 (or are shorter). Cutting there gives a valid,
 * shorter MP3 that decodes to the same first samples as the whole file.
 */
export function mp3CutOffset(bytes: ArrayBuffer | Uint8Array, seconds: number): number | null {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let i = id3Size(b);
  let samples = 0;
  let frames = 0;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff || (b[i + 1]! & 0xe0) !== 0xe0) {
      if (frames > 0) return null; // lost sync in the middle: not a stream we can cut safely
      i++;
      continue;
    }
    const version = (b[i + 1]! >> 3) & 3;
    const layer = (b[i + 1]! >> 1) & 3;
    const bitrateIndex = b[i + 2]! >> 4;
    const rateIndex = (b[i + 2]! >> 2) & 3;
    const padding = (b[i + 2]! >> 1) & 1;
    if (version === 1 || layer !== 1 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) {
      if (frames > 0) return null;
      i++;
      continue;
    }
    const rate = MPEG_RATES[version]![rateIndex]!;
    const v1 = version === 3;
    const kbps = (v1 ? MPEG_BITRATES_V1_L3 : MPEG_BITRATES_V2_L3)[bitrateIndex]!;
    const perFrame = v1 ? 1152 : 576;
    const length = Math.floor(((v1 ? 144 : 72) * kbps * 1000) / rate) + padding;
    if (samples >= seconds * rate) return i;
    samples += perFrame;
    frames++;
    i += length;
  }
  return null;
}
