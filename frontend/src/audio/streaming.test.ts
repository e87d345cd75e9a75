import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeContext, type FakeSource } from "./fakeContext.test-util";
import { canResume, partSchedule, ranDry, START_LEAD_SECONDS, StreamingEngine, type StreamingContext } from "./streaming";

const RATE = 100; // frames per second: easy numbers

class BufferContext extends FakeContext {
  createBuffer(channels: number, length: number, sampleRate: number) {
    return { numberOfChannels: channels, length, sampleRate, duration: length / sampleRate, copyToChannel: () => {} };
  }
}

const mix = { stems: { drums: { gainDb: 0, mute: false, solo: false, pan: 0 }, bass: { gainDb: 0, mute: false, solo: false, pan: 0 } }, masterGainDb: 0 };
const part = (frames: number) => [new Float32Array(frames), new Float32Array(frames)];

function setup(duration: number | null = 10) {
  const ctx = new BufferContext();
  const engine = new StreamingEngine(ctx as unknown as StreamingContext, ["drums", "bass"], RATE, mix, duration);
  return { ctx, engine };
}

/** [when, offset] of each started source, by the buffer length it plays. */
const starts = (sources: FakeSource[]) => sources.filter((s) => s.started).map((s) => [...s.started!, (s.buffer as unknown as { length: number }).length]);

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("partSchedule", () => {
  it("starts each part exactly where the one before it ends", () => {
    const a = partSchedule(0, 150, RATE, 0, 5)!;
    const b = partSchedule(150, 250, RATE, 0, 5)!;
    const c = partSchedule(400, 100, RATE, 0, 5)!;
    expect(a).toEqual({ when: 5, offset: 0 });
    expect(b.when).toBeCloseTo(a.when + 150 / RATE, 12);
    expect(c.when).toBeCloseTo(b.when + 250 / RATE, 12);
  });

  it("plays a part from inside when the position is in it, and skips parts behind", () => {
    expect(partSchedule(100, 100, RATE, 1.5, 7)).toEqual({ when: 7, offset: 0.5 });
    expect(partSchedule(0, 100, RATE, 1, 7)).toBeNull();
    expect(partSchedule(200, 100, RATE, 1.5, 7)).toEqual({ when: 7.5, offset: 0 });
  });

  it("is sample-exact at 44.1 kHz over a long song", () => {
    const rate = 44100;
    const length = 7.8 * rate;
    let end = partSchedule(0, length, rate, 0, 0.03)!.when + length / rate;
    for (let k = 1; k < 40; k++) {
      const at = partSchedule(k * length, length, rate, 0, 0.03)!;
      expect(Math.abs(at.when - end) * rate).toBeLessThan(1e-6);
      end = at.when + length / rate;
    }
  });
});

describe("wait and resume", () => {
  it("runs dry only at the end of what is ready", () => {
    expect(ranDry(4, 4)).toBe(true);
    expect(ranDry(3.9, 4)).toBe(false);
  });

  it("goes on with 2 s more ready, or with the rest of the song", () => {
    expect(canResume(4, 5.9, 60)).toBe(false);
    expect(canResume(4, 6, 60)).toBe(true);
    expect(canResume(59, 60, 60)).toBe(true);
    expect(canResume(60, 60, 60)).toBe(false);
  });
});

describe("StreamingEngine", () => {
  it("schedules every stem's parts from one anchor, so they stay on the same sample", async () => {
    const { ctx, engine } = setup();
    engine.append("drums", part(150));
    engine.append("bass", part(100));
    engine.append("bass", part(50));
    expect(engine.available).toBe(1.5);
    ctx.currentTime = 2;
    await engine.play();
    const t0 = 2 + START_LEAD_SECONDS;
    expect(starts(ctx.sources)).toEqual([
      [t0, 0, 150],
      [t0, 0, 100],
      [t0 + 1, 0, 50],
    ]);
    // A part that arrives while playing joins the last one exactly.
    engine.append("drums", part(100));
    engine.append("bass", part(100));
    expect(starts(ctx.sources).slice(3)).toEqual([
      [t0 + 1.5, 0, 100],
      [t0 + 1.5, 0, 100],
    ]);
    expect(engine.available).toBe(2.5);
  });

  it("waits (and says so) when the playhead catches up, and goes on with 2 s more", async () => {
    const { ctx, engine } = setup();
    const events: string[] = [];
    for (const e of ["play", "pause", "waiting", "ended"] as const) engine.events.on(e, () => events.push(e));
    engine.append("drums", part(100));
    engine.append("bass", part(100));
    await engine.play();
    ctx.currentTime = 1.1;
    vi.advanceTimersByTime(1100);
    expect(events).toEqual(["play", "waiting"]);
    expect(engine.isWaiting).toBe(true);
    expect(engine.isPlaying).toBe(false);
    expect(engine.currentTime).toBe(1);
    // 1 s more is not enough; 2 s more is.
    engine.append("drums", part(300));
    engine.append("bass", part(100));
    expect(engine.isWaiting).toBe(true);
    engine.append("bass", part(200));
    await Promise.resolve();
    expect(events).toEqual(["play", "waiting", "play"]);
    // From 1 s on: drums' 3 s part, bass's two parts back to back.
    const t0 = 1.1 + START_LEAD_SECONDS;
    expect(starts(ctx.sources).slice(-3)).toEqual([
      [t0, 0, 300],
      [t0, 0, 100],
      [t0 + 1, 0, 200],
    ]);
  });

  it("ends at the end of the song", async () => {
    const { ctx, engine } = setup(1);
    const ended = vi.fn();
    engine.events.on("ended", ended);
    engine.append("drums", part(100));
    engine.append("bass", part(100));
    await engine.play();
    ctx.currentTime = 1.2;
    vi.advanceTimersByTime(1100);
    expect(ended).toHaveBeenCalledWith({ position: 1 });
    expect(engine.isWaiting).toBe(false);
  });

  it("a part that comes after the playhead ran past the end starts again from there, in sync", async () => {
    const { ctx, engine } = setup();
    engine.append("drums", part(100));
    engine.append("bass", part(100));
    await engine.play();
    ctx.currentTime = 1.04; // past the end, before the watch fired
    engine.append("drums", part(300));
    engine.append("bass", part(300));
    const started = ctx.sources.filter((s) => s.started && !s.stopped);
    expect(started.map((s) => s.started)).toEqual([
      [1.04 + START_LEAD_SECONDS, 0],
      [1.04 + START_LEAD_SECONDS, 0],
    ]);
  });

  it("seeks only within what is ready", () => {
    const { engine } = setup();
    engine.append("drums", part(300));
    engine.append("bass", part(200));
    engine.seek(5);
    expect(engine.currentTime).toBe(2);
    engine.seek(-1);
    expect(engine.currentTime).toBe(0);
  });

  it("plays through the same mix graph: mute silences the stem's gain", () => {
    const { ctx, engine } = setup();
    engine.setMix({ ...mix, stems: { ...mix.stems, bass: { ...mix.stems.bass, mute: true } } });
    // gains: master, then per stem (drums, bass), then the bus, in buildMixGraph's order
    expect(ctx.gains.map((g) => g.gain.value)).toEqual([1, 1, 0, 1]);
  });

  it("hands off: stops at a moment just ahead and says where to go on, keeping the context open", async () => {
    const { ctx, engine } = setup();
    engine.append("drums", part(500));
    engine.append("bass", part(500));
    await engine.play();
    ctx.currentTime = 1;
    const { position, resume } = engine.handOff();
    expect(resume).toBe(true);
    expect(position).toBeCloseTo(1, 9); // at currentTime + lead, the position is 1 s in
    expect(ctx.sources.every((s) => s.stopped)).toBe(true);
    expect(ctx.state).toBe("running");
  });
});
