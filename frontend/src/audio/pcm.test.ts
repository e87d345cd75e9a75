import { describe, expect, it } from "vitest";
import { contentRangeStart, parseWavHeader, pcm16ToFloat32, rangeStartFor, wholeFrames } from "./pcm";
import { wav } from "./wav.test-util";

describe("parseWavHeader", () => {
  it("reads the rate, the channels and where the samples start", () => {
    expect(parseWavHeader(wav([1, 2, 3, 4], { sampleRate: 48000 }))).toEqual({ sampleRate: 48000, channels: 2, dataOffset: 44 });
  });

  it("walks past other chunks to the data", () => {
    const canonical = new Uint8Array(wav([7, 8]));
    const extra = new Uint8Array([..."LIST"].map((c) => c.charCodeAt(0)).concat([3, 0, 0, 0, 1, 2, 3, 0]));
    const bytes = new Uint8Array(canonical.length + extra.length);
    bytes.set(canonical.subarray(0, 36));
    bytes.set(extra, 36);
    bytes.set(canonical.subarray(36), 36 + extra.length);
    expect(parseWavHeader(bytes.buffer).dataOffset).toBe(44 + extra.length);
  });

  it("refuses what is not 16-bit PCM WAV", () => {
    expect(() => parseWavHeader(new TextEncoder().encode("ID3 not a wav at all").buffer)).toThrow("not a WAV");
    const float = wav([0, 0]);
    new DataView(float).setUint16(20, 3, true);
    expect(() => parseWavHeader(float)).toThrow("unsupported");
    expect(() => parseWavHeader(wav([0, 0]).slice(0, 30))).toThrow("incomplete");
  });
});

describe("pcm16ToFloat32", () => {
  it("splits interleaved frames into channels, sample / 32768", () => {
    const [left, right] = pcm16ToFloat32(wav([-32768, 16384, 32767, -1]), 2, 44);
    expect([...left!]).toEqual([-1, 32767 / 32768]);
    expect([...right!]).toEqual([0.5, -1 / 32768]);
  });

  it("keeps whole frames only (a cut frame waits for the next fetch)", () => {
    const bytes = new Int16Array([1, 2, 3, 4, 5]).buffer; // 2.5 stereo frames
    expect(wholeFrames(bytes.byteLength, 2)).toBe(2);
    expect(pcm16ToFloat32(bytes, 2).map((c) => c.length)).toEqual([2, 2]);
  });
});

describe("ranges", () => {
  it("asks for the PCM after the frames it has", () => {
    expect(rangeStartFor(0)).toBe(44);
    expect(rangeStartFor(44100)).toBe(44 + 4 * 44100);
  });

  it("reads where a partial answer starts", () => {
    expect(contentRangeStart("bytes 176444-352843/352844")).toBe(176444);
    expect(contentRangeStart("bytes 44-99/*")).toBe(44);
    expect(contentRangeStart(null)).toBeNull();
    expect(contentRangeStart("bytes */100")).toBeNull();
  });
});
