import { describe, expect, it } from "vitest";
import { mp3CutOffset, sniffSampleRate } from "./sniff";

function wav(rate: number): Uint8Array {
  const b = new Uint8Array(44);
  const v = new DataView(b.buffer);
  b.set([..."RIFF"].map((c) => c.charCodeAt(0)), 0);
  b.set([..."WAVE"].map((c) => c.charCodeAt(0)), 8);
  b.set([..."fmt "].map((c) => c.charCodeAt(0)), 12);
  v.setUint32(16, 16, true);
  v.setUint16(22, 2, true);
  v.setUint32(24, rate, true);
  return b;
}

function flac(rate: number): Uint8Array {
  const b = new Uint8Array(42);
  b.set([0x66, 0x4c, 0x61, 0x43, 0x00, 0x00, 0x00, 0x22], 0);
  // STREAMINFO: min/max block (4), min/max frame (6), then 20 bits of sample rate.
  b[18] = (rate >> 12) & 0xff;
  b[19] = (rate >> 4) & 0xff;
  b[20] = ((rate & 0xf) << 4) | 0x02;
  return b;
}

function mp3(rateIndex: number, version = 3, id3 = false): Uint8Array {
  const frame = [0xff, 0xe0 | (version << 3) | (1 << 1) | 1, (9 << 4) | (rateIndex << 2), 0xc4];
  const head = id3 ? [0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5] : [];
  return new Uint8Array([...head, 0, 0, ...frame, ...new Array(40).fill(0)]);
}

describe("sniffSampleRate", () => {
  it("reads WAV and FLAC headers", () => {
    expect(sniffSampleRate(wav(48000))).toBe(48000);
    expect(sniffSampleRate(flac(44100))).toBe(44100);
    expect(sniffSampleRate(flac(96000).buffer as ArrayBuffer)).toBe(96000);
  });
  it("reads MPEG audio frame headers, after an ID3 tag", () => {
    expect(sniffSampleRate(mp3(0))).toBe(44100);
    expect(sniffSampleRate(mp3(1, 3, true))).toBe(48000);
    expect(sniffSampleRate(mp3(2, 2))).toBe(16000);
  });
  it("returns null for anything else", () => {
    expect(sniffSampleRate(new TextEncoder().encode("not audio at all, just text"))).toBeNull();
    expect(sniffSampleRate(new Uint8Array())).toBeNull();
  });
});

/** A run of MPEG-1 layer III frames (128 kbps, 44.1 kHz, no padding: 417 bytes each). */
function mp3Stream(frames: number, id3 = false): Uint8Array {
  const frameLength = 417;
  const head = id3 ? [0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5] : [];
  const b = new Uint8Array(head.length + frames * frameLength);
  b.set(head, 0);
  for (let f = 0; f < frames; f++) b.set([0xff, 0xfb, 0x90, 0xc4], head.length + f * frameLength);
  return b;
}

describe("mp3CutOffset", () => {
  it("cuts at the first frame boundary at or after the time", () => {
    const b = mp3Stream(100);
    // 1152 samples per frame at 44.1 kHz: 1 s needs 39 frames (38.28 rounded up).
    expect(mp3CutOffset(b, 1)).toBe(39 * 417);
    expect(mp3CutOffset(b, 0)).toBe(0);
  });
  it("accounts for an ID3 tag", () => {
    expect(mp3CutOffset(mp3Stream(100, true), 1)).toBe(15 + 39 * 417);
  });
  it("null when the file is shorter or not MP3", () => {
    expect(mp3CutOffset(mp3Stream(10), 5)).toBeNull();
    expect(mp3CutOffset(new TextEncoder().encode("hello"), 1)).toBeNull();
  });
  it("null when sync is lost mid-stream", () => {
    const b = mp3Stream(100);
    b[417 * 3] = 0; // break frame 3's sync word
    expect(mp3CutOffset(b, 1)).toBeNull();
  });
});
