import { afterEach, describe, expect, it, vi } from "vitest";
import { wav } from "../../audio/wav.test-util";
import { fetchStemPart, NotPartialWav, StemStreams } from "./streamStems";

/** A stem being separated: `frames` stereo frames final so far, served as the contract says. */
function server(state: { frames: number; ready?: boolean; ignoreRange?: boolean }) {
  const requests: (string | null)[] = [];
  const fetchMock = vi.fn(async (_url: string, init?: RequestInit) => {
    const range = (init?.headers as Record<string, string> | undefined)?.Range ?? null;
    requests.push(range);
    if (state.ready) return new Response(new Uint8Array([0xff, 0xfb]), { headers: { "Content-Type": "audio/mpeg" } });
    const samples = Array.from({ length: state.frames * 2 }, (_, i) => i);
    const body = wav(samples);
    const from = range && !state.ignoreRange ? Number(/bytes=(\d+)-/.exec(range)![1]) : null;
    if (from === null) return new Response(body, { status: 200, headers: { "Content-Type": "audio/wav" } });
    if (from >= body.byteLength) return new Response(null, { status: 416, headers: { "Content-Range": `bytes */${body.byteLength}` } });
    return new Response(body.slice(from), {
      status: 206,
      headers: { "Content-Type": "audio/wav", "Content-Range": `bytes ${from}-${body.byteLength - 1}/${body.byteLength}` },
    });
  });
  vi.stubGlobal("fetch", fetchMock);
  return requests;
}

const signal = new AbortController().signal;

afterEach(() => vi.unstubAllGlobals());

describe("fetchStemPart", () => {
  it("takes the whole WAV first, then only the new PCM with a Range", async () => {
    const state = { frames: 3 };
    const requests = server(state);
    const first = (await fetchStemPart("/s", 0, null, signal))!;
    expect(first.format).toEqual({ sampleRate: 44100, channels: 2, dataOffset: 44 });
    expect(first.channels[0]!.length).toBe(3);
    state.frames = 5;
    const next = (await fetchStemPart("/s", 3, first.format, signal))!;
    expect(requests).toEqual([null, "bytes=56-"]);
    // Frames 3 and 4: samples 6..9, left 6 and 8.
    expect([...next.channels[0]!].map((v) => v * 32768)).toEqual([6, 8]);
    expect([...next.channels[1]!].map((v) => v * 32768)).toEqual([7, 9]);
  });

  it("nothing new is a 416: no frames", async () => {
    server({ frames: 3 });
    const part = await fetchStemPart("/s", 3, { sampleRate: 44100, channels: 2, dataOffset: 44 }, signal);
    expect(part!.channels).toEqual([]);
  });

  it("a server that ignores Range: the frames it has are skipped", async () => {
    server({ frames: 5, ignoreRange: true });
    const part = await fetchStemPart("/s", 3, { sampleRate: 44100, channels: 2, dataOffset: 44 }, signal);
    expect([...part!.channels[0]!].map((v) => v * 32768)).toEqual([6, 8]);
  });

  it("the MP3 of a ready project is not a part", async () => {
    server({ frames: 0, ready: true });
    await expect(fetchStemPart("/s", 0, null, signal)).rejects.toBeInstanceOf(NotPartialWav);
  });
});

describe("StemStreams", () => {
  it("hands each stem's new frames on in order, and stops once the links serve the MP3", async () => {
    const state: { frames: number; ready?: boolean } = { frames: 2 };
    server(state);
    const got: [string, number][] = [];
    const streams = new StemStreams(
      [
        { name: "drums", color: "#000", url: null, preview_url: "/d" },
        { name: "bass", color: "#000", url: null, preview_url: "/b" },
      ],
      signal,
      (name, part) => got.push([name, part.channels[0]?.length ?? 0]),
    );
    await streams.pull();
    state.frames = 6;
    await streams.pull();
    expect(streams.frames("drums")).toBe(6);
    expect(got.filter(([n]) => n === "bass").map(([, f]) => f)).toEqual([2, 4]);
    state.ready = true;
    await streams.pull();
    state.ready = false;
    state.frames = 9;
    await streams.pull();
    expect(streams.frames("bass")).toBe(6);
  });
});
