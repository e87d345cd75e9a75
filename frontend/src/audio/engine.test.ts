import { beforeEach, describe, expect, it } from "vitest";
import { MixerEngine, type EngineContext } from "./engine";
import { initialTracks, type MixSettings } from "./mixmath";
import { FakeContext, FakeGain, FakePanner, type FakeSource } from "./fakeContext.test-util";

const NAMES = ["vocals", "drums", "bass", "other"];
const buffer = (duration: number) => ({ duration }) as unknown as AudioBuffer;

function setup(names = NAMES, duration = 60) {
  const ctx = new FakeContext();
  const buffers = Object.fromEntries(names.map((n) => [n, buffer(duration)]));
  const settings: MixSettings = { stems: initialTracks(names), masterGainDb: 0 };
  const engine = new MixerEngine(ctx as unknown as EngineContext, buffers, settings);
  return { ctx, engine, settings };
}

function live(ctx: FakeContext): FakeSource[] {
  return ctx.sources.filter((s) => s.started && !s.stopped);
}

/** The stem GainNode feeding a given source. */
function stemGain(ctx: FakeContext, index: number): FakeGain {
  return live(ctx)[index]!.connections[0] as FakeGain;
}

describe("MixerEngine graph", () => {
  it("builds source -> gain -> panner -> bus -> master -> analyser -> destination per stem", async () => {
    const { ctx, engine } = setup();
    await engine.play();
    for (const source of live(ctx)) {
      const gain = source.connections[0] as FakeGain;
      expect(gain.kind).toBe("gain");
      const panner = gain.connections[0] as FakePanner;
      expect(panner.kind).toBe("panner");
      // the bus: the stems' sum, where the stretch goes in (tempo and pitch)
      const bus = panner.connections[0]!;
      expect(bus.kind).toBe("gain");
      const master = bus.connections[0]!;
      expect(master.kind).toBe("gain");
      expect(master.connections[0]!.kind).toBe("analyser");
      expect(master.connections[0]!.connections[0]).toBe(ctx.destination);
      // the level-meter tap after the panner
      expect(panner.connections[1]!.kind).toBe("analyser");
    }
  });

  it("works for 2 and 6 stems with names from the API", async () => {
    for (const names of [["vocals", "no_vocals"], ["vocals", "drums", "bass", "other", "guitar", "piano"]]) {
      const { ctx, engine } = setup(names);
      await engine.play();
      expect(live(ctx)).toHaveLength(names.length);
      expect(engine.stemNames).toEqual(names);
    }
  });

  it("starts every source with the same (when, offset)", async () => {
    const { ctx, engine } = setup();
    ctx.currentTime = 3;
    engine.seek(12.5);
    await engine.play();
    const starts = live(ctx).map((s) => s.started);
    expect(new Set(starts.map((s) => JSON.stringify(s))).size).toBe(1);
    expect(starts[0]![1]).toBe(12.5);
    expect(starts[0]![0]).toBeGreaterThan(3);
  });
});

describe("MixerEngine mix settings", () => {
  let env: ReturnType<typeof setup>;
  beforeEach(async () => {
    env = setup();
    await env.engine.play();
  });

  it("mute silences just that stem", () => {
    const stems = initialTracks(NAMES);
    stems.drums!.mute = true;
    env.engine.setMix({ stems, masterGainDb: 0 });
    expect(NAMES.map((_, i) => stemGain(env.ctx, i).gain.value)).toEqual([1, 0, 1, 1]);
  });

  it("solo silences the others; a second solo adds to it", () => {
    const stems = initialTracks(NAMES);
    stems.bass!.solo = true;
    env.engine.setMix({ stems, masterGainDb: 0 });
    expect(NAMES.map((_, i) => stemGain(env.ctx, i).gain.value)).toEqual([0, 0, 1, 0]);
    stems.vocals!.solo = true;
    env.engine.setMix({ stems: { ...stems }, masterGainDb: 0 });
    expect(NAMES.map((_, i) => stemGain(env.ctx, i).gain.value)).toEqual([1, 0, 1, 0]);
  });

  it("applies fader dB, pan and master gain", () => {
    const stems = initialTracks(NAMES);
    stems.vocals = { gainDb: -6, mute: false, solo: false, pan: -0.4 };
    env.engine.setMix({ stems, masterGainDb: 6 });
    const gain = stemGain(env.ctx, 0);
    expect(gain.gain.value).toBeCloseTo(0.501187, 5);
    const panner = gain.connections[0] as FakePanner;
    expect(panner.pan.value).toBe(-0.4);
    const bus = panner.connections[0] as FakeGain;
    expect(bus.gain.value).toBe(1);
    expect((bus.connections[0] as FakeGain).gain.value).toBeCloseTo(1.995262, 5);
  });
});

describe("MixerEngine transport", () => {
  it("pause keeps the position; play resumes from it", async () => {
    const { ctx, engine } = setup();
    await engine.play();
    const startedAt = live(ctx)[0]!.started![0];
    ctx.currentTime = startedAt + 4;
    engine.pause();
    expect(engine.isPlaying).toBe(false);
    expect(engine.currentTime).toBeCloseTo(4, 9);
    expect(live(ctx)).toHaveLength(0);
    await engine.play();
    expect(live(ctx)[0]!.started![1]).toBeCloseTo(4, 9);
  });

  it("seek while playing recreates all sources at the new offset", async () => {
    const { ctx, engine } = setup();
    await engine.play();
    const before = live(ctx);
    engine.seek(30);
    expect(before.every((s) => s.stopped)).toBe(true);
    expect(live(ctx).map((s) => s.started![1])).toEqual([30, 30, 30, 30]);
  });

  it("loop region is set on every source and the playhead wraps", async () => {
    const { ctx, engine } = setup();
    engine.setLoopRegion({ start: 10, end: 14 });
    engine.setLoopEnabled(true);
    await engine.play();
    for (const s of live(ctx)) {
      expect([s.loop, s.loopStart, s.loopEnd]).toEqual([true, 10, 14]);
      expect(s.started![1]).toBe(10);
    }
    ctx.currentTime = live(ctx)[0]!.started![0] + 5;
    expect(engine.currentTime).toBeCloseTo(11, 9);
    engine.setLoopEnabled(false);
    expect(live(ctx).every((s) => !s.loop)).toBe(true);
  });

  it("emits ended when the sources finish, but not after a pause", async () => {
    const { ctx, engine } = setup();
    const ended: number[] = [];
    const off = engine.events.on("ended", ({ position }) => ended.push(position));
    await engine.play();
    const first = live(ctx)[0]!;
    engine.pause();
    first.onended?.();
    expect(ended).toEqual([]);
    await engine.play();
    live(ctx)[0]!.onended!();
    expect(ended).toEqual([60]);
    expect(engine.isPlaying).toBe(false);
    off();
    await engine.play();
    live(ctx)[0]!.onended!();
    expect(ended).toEqual([60]);
  });

  it("reads levels from the meters and closes the context on dispose", async () => {
    const { ctx, engine } = setup();
    ctx.analysers[0]!.level = -0.5; // master meter
    expect(engine.level()).toBe(0.5);
    expect(engine.level("nope")).toBe(0);
    await engine.dispose();
    expect(ctx.state).toBe("closed");
  });
});

describe("MixerEngine with partly decoded buffers", () => {
  function partial() {
    const ctx = new FakeContext();
    const heads = Object.fromEntries(NAMES.map((n) => [n, buffer(30)]));
    const settings: MixSettings = { stems: initialTracks(NAMES), masterGainDb: 0 };
    const engine = new MixerEngine(ctx as unknown as EngineContext, heads, settings, { duration: 240, complete: false });
    const full = Object.fromEntries(NAMES.map((n) => [n, buffer(240.02)]));
    return { ctx, engine, full };
  }

  it("reports the song's duration, not the heads'", () => {
    const { engine } = partial();
    expect(engine.duration).toBe(240);
    expect(engine.isComplete).toBe(false);
  });

  it("swaps to the full buffers while playing without a gap: old stop and new start at the same time", async () => {
    const { ctx, engine, full } = partial();
    await engine.play();
    const old = live(ctx);
    const t0 = old[0]!.started![0];
    ctx.currentTime = t0 + 5;
    engine.replaceBuffers(full);
    const fresh = ctx.sources.filter((s) => !old.includes(s));
    expect(fresh).toHaveLength(4);
    expect(fresh.every((s) => s.buffer!.duration === 240.02)).toBe(true);
    const [when, offset] = fresh[0]!.started!;
    expect(new Set(fresh.map((s) => JSON.stringify(s.started))).size).toBe(1);
    expect(offset).toBeCloseTo(when - t0, 9); // exactly where the old sources are at `when`
    expect(old.every((s) => s.stopped)).toBe(true);
    expect(engine.isComplete).toBe(true);
    expect(engine.duration).toBe(240.02);
    expect(engine.isPlaying).toBe(true);
  });

  it("waits at the end of the decoded part and resumes when the rest arrives", async () => {
    const { ctx, engine, full } = partial();
    const events: string[] = [];
    engine.events.on("waiting", () => events.push("waiting"));
    engine.events.on("play", () => events.push("play"));
    await engine.play();
    ctx.currentTime = live(ctx)[0]!.started![0] + 30;
    live(ctx)[0]!.onended!();
    expect(events).toEqual(["play", "waiting"]);
    expect(engine.isPlaying).toBe(false);
    expect(engine.currentTime).toBeCloseTo(30, 9);
    engine.replaceBuffers(full);
    await Promise.resolve();
    expect(events).toEqual(["play", "waiting", "play"]);
    expect(live(ctx)[0]!.started![1]).toBeCloseTo(30, 9);
  });

  it("a pause while waiting cancels the automatic resume", async () => {
    const { ctx, engine, full } = partial();
    await engine.play();
    live(ctx)[0]!.onended!();
    engine.pause();
    engine.replaceBuffers(full);
    await Promise.resolve();
    expect(engine.isPlaying).toBe(false);
  });
});
