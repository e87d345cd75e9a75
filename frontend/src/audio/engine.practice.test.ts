// Tempo, pitch, click track and count-in of MixerEngine, on the fake context.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MixerEngine, type EngineContext } from "./engine";
import { initialTracks, type MixSettings } from "./mixmath";
import { FakeBuffer, FakeContext, FakeStretch, type FakeGain } from "./fakeContext.test-util";
import type { StretchFactory, StretchUnit } from "./stretchNode";

const NAMES = ["vocals", "drums", "bass"];
const LATENCY = 0.1;
const buffer = (duration: number) => ({ duration }) as unknown as AudioBuffer;
// 120 BPM in 4/4: a beat every 0.5 s, a downbeat every 2 s.
const BEATS = Array.from({ length: 40 }, (_, i) => i * 0.5);
const GRID = { bpm: 120, beats: BEATS, downbeats: BEATS.filter((_, i) => i % 4 === 0) };

function setup(withStretch = true) {
  const ctx = new FakeContext();
  const stretch = new FakeStretch(LATENCY);
  const factory: StretchFactory = () => Promise.resolve(stretch as unknown as StretchUnit);
  const buffers = Object.fromEntries(NAMES.map((n) => [n, buffer(20)]));
  const settings: MixSettings = { stems: initialTracks(NAMES), masterGainDb: 0 };
  const engine = new MixerEngine(ctx as unknown as EngineContext, buffers, settings, withStretch ? { stretch: factory } : {});
  return { ctx, engine, stretch };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
const stems = (ctx: FakeContext) => ctx.sources.filter((s) => s.started && !s.stopped && !(s.buffer instanceof FakeBuffer));
const clicks = (ctx: FakeContext) => ctx.sources.filter((s) => s.started && !s.stopped && s.buffer instanceof FakeBuffer);

describe("tempo and pitch", () => {
  it("without a stretch to load, tempo and pitch stay as the song is", () => {
    const { engine } = setup(false);
    engine.setTempo(0.75);
    engine.setPitch(-2);
    expect(engine.canStretch).toBe(false);
    expect(engine.practice).toMatchObject({ tempo: 1, pitch: 0 });
  });

  it("puts the stretch between the stems' sum and the master, every source at the tempo's rate", async () => {
    const { ctx, engine, stretch } = setup();
    await engine.play();
    engine.setTempo(0.75);
    engine.setPitch(-2);
    expect(engine.practice.stretchReady).toBe(false); // loading
    await flush();
    expect(engine.practice).toMatchObject({ tempo: 0.75, pitch: -2, stretchReady: true });
    const sources = stems(ctx);
    expect(sources).toHaveLength(NAMES.length);
    for (const s of sources) expect(s.playbackRate.value).toBe(0.75);
    // One start (when, offset) for all: sample sync.
    expect(new Set(sources.map((s) => JSON.stringify(s.started))).size).toBe(1);
    const bus = (sources[0]!.connections[0]!.connections[0]!.connections[0]) as FakeGain;
    expect(bus.connections).toEqual([stretch.node]);
    expect(stretch.node.connections[0]!.kind).toBe("gain"); // the master
    const [semitones] = stretch.shifts.at(-1)!;
    expect(semitones).toBeCloseTo(-2 - 12 * Math.log2(0.75), 9);
  });

  it("keeps the clock in song seconds, after the stretch's latency", async () => {
    const { ctx, engine } = setup();
    engine.setTempo(0.5);
    await flush();
    engine.seek(4);
    await engine.play();
    const when = stems(ctx)[0]!.started![0];
    ctx.currentTime = when + LATENCY + 2; // 2 s heard at half speed: 1 song second
    expect(engine.currentTime).toBeCloseTo(5, 9);
    engine.pause();
    expect(engine.currentTime).toBeCloseTo(5, 9);
  });

  it("changes the tempo of all sources at the same moment while playing", async () => {
    const { ctx, engine, stretch } = setup();
    engine.setTempo(0.8);
    await flush();
    await engine.play();
    const when = stems(ctx)[0]!.started![0];
    ctx.currentTime = when + LATENCY + 5; // 4 song seconds in
    engine.setTempo(1.25);
    const changes = stems(ctx).map((s) => s.playbackRate.events.at(-1));
    expect(new Set(changes.map((c) => JSON.stringify(c))).size).toBe(1);
    expect(changes[0]![0]).toBe(1.25);
    expect(stretch.shifts.at(-1)![0]).toBeCloseTo(-12 * Math.log2(1.25), 9);
    const changeAt = changes[0]![1];
    ctx.currentTime = changeAt + LATENCY + 4; // then 4 s at 1.25
    expect(engine.currentTime).toBeCloseTo(4 + (changeAt - (when + 5)) * 0.8 + 5, 6);
  });

  it("takes the stretch out at 100 % and 0 semitones", async () => {
    const { ctx, engine, stretch } = setup();
    engine.setPitch(3);
    await flush();
    await engine.play();
    engine.setPitch(0);
    const bus = stems(ctx)[0]!.connections[0]!.connections[0]!.connections[0]! as FakeGain;
    expect(bus.connections.map((n) => n.kind)).toEqual(["gain"]);
    expect(bus.connections[0]).not.toBe(stretch.node);
    for (const s of stems(ctx)) expect(s.playbackRate.value).toBe(1);
  });
});

describe("click track and count-in", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("clicks each beat in song time at the tempo, downbeats accented, on its own gain and pan", async () => {
    const { ctx, engine } = setup();
    engine.setBeatGrid(GRID);
    engine.setTempo(0.5);
    await vi.advanceTimersByTimeAsync(0);
    engine.seek(1);
    await engine.play();
    const when = stems(ctx)[0]!.started![0];
    const times = clicks(ctx).map((c) => c.started![0] - when - LATENCY);
    // beats 1, 1.5, 2 … song s from offset 1 at half speed: every second, within the lookahead
    expect(times.map((t) => Math.round(t * 1000) / 1000)).toEqual([0, 1]);
    // song 1 s and 1.5 s are not downbeats: the same sound
    expect(clicks(ctx)[1]!.buffer).toBe(clicks(ctx)[0]!.buffer);
    // more clicks as time goes on, none twice
    ctx.currentTime = when + 1.2;
    await vi.advanceTimersByTimeAsync(250);
    const later = clicks(ctx).map((c) => Math.round((c.started![0] - when - LATENCY) * 1000) / 1000);
    expect(later).toEqual([0, 1, 2]);
    // the downbeat at song 2 s (heard 2 s after song 1 s) sounds different
    expect(clicks(ctx)[2]!.buffer).not.toBe(clicks(ctx)[0]!.buffer);
    engine.setClick({ gainDb: -6, mute: true, pan: 0.5 });
    const gain = clicks(ctx)[0]!.connections[0] as FakeGain;
    expect(gain.gain.value).toBe(0);
    expect((gain.connections[0] as unknown as { pan: { value: number } }).pan.value).toBe(0.5);
  });

  it("counts in a bar before playback starts", async () => {
    const { ctx, engine } = setup();
    engine.setBeatGrid(GRID);
    engine.setCountIn(1);
    ctx.currentTime = 10;
    await engine.play();
    const count = clicks(ctx);
    expect(count).toHaveLength(4);
    const first = Math.min(...count.map((c) => c.started![0]));
    const when = stems(ctx)[0]!.started![0];
    // 4 beats of 0.5 s, then the music
    expect(when - first).toBeCloseTo(2, 9);
    expect(engine.currentTime).toBe(0);
    // the count-in clicks are on the chain the click's mute does not silence
    engine.setClick({ mute: true });
    const countGain = count.find((c) => c.started![0] === first)!.connections[0] as FakeGain;
    expect(countGain.gain.value).toBeGreaterThan(0);
  });

  it("with a loop, counts in again before every pass", async () => {
    const { ctx, engine } = setup();
    engine.setBeatGrid(GRID);
    engine.setCountIn(1);
    engine.setLoopRegion({ start: 2, end: 4 });
    engine.setLoopEnabled(true);
    await engine.play();
    const firstPass = stems(ctx);
    expect(firstPass.every((s) => s.started![1] === 2 && s.startDuration === 2 && !s.loop)).toBe(true);
    const when = firstPass[0]!.started![0];
    ctx.currentTime = when + 1; // the pass (2 s at 100 %) ends within the lookahead
    await vi.advanceTimersByTimeAsync(250);
    const next = stems(ctx).filter((s) => !firstPass.includes(s));
    expect(next).toHaveLength(NAMES.length);
    // second pass: after the first (2 s) and a count-in bar (2 s)
    expect(next[0]!.started![0]).toBeCloseTo(when + 4, 9);
    expect(next[0]!.started![1]).toBe(2);
    ctx.currentTime = when + 3; // in the count-in: the clock shows the loop start
    expect(engine.currentTime).toBe(2);
  });

  it("no beat grid: no clicks and no count-in", async () => {
    const { ctx, engine } = setup();
    engine.setCountIn(2);
    await engine.play();
    expect(clicks(ctx)).toHaveLength(0);
  });
});
