import { describe, expect, it } from "vitest";
import {
  beatsPerBar,
  clampPitch,
  clampTempo,
  clicksInWindow,
  countInClicks,
  formatSemitones,
  isNeutral,
  runEndsAt,
  runPosition,
  stretchSemitones,
  transposeKey,
  type Run,
} from "./practice";

const run = (patch: Partial<Run> = {}): Run => ({ from: 0, at: 1, offset: 10, tempo: 0.5, loop: null, end: 60, ...patch });

describe("tempo and pitch", () => {
  it("clamps to 50–150 % and ±12 semitones", () => {
    expect(clampTempo(0.2)).toBe(0.5);
    expect(clampTempo(2)).toBe(1.5);
    expect(clampTempo(Number.NaN)).toBe(1);
    expect(clampPitch(-13)).toBe(-12);
    expect(clampPitch(3.333)).toBe(3.33);
  });

  it("the stretch undoes the rate's pitch and adds the user's", () => {
    expect(stretchSemitones(1, -2)).toBe(-2);
    expect(stretchSemitones(0.5, 0)).toBeCloseTo(12, 9);
    expect(stretchSemitones(0.75, -2)).toBeCloseTo(-2 + 4.980449991, 6);
    expect(isNeutral(1, 0)).toBe(true);
    expect(isNeutral(0.75, 0)).toBe(false);
  });
});

describe("song-time clock", () => {
  it("moves tempo song seconds per second from when the offset is heard", () => {
    expect(runPosition(run(), 0.5)).toBe(10); // before `at`: the offset (count-in, latency)
    expect(runPosition(run(), 3)).toBe(11);
    expect(runPosition(run(), 1000)).toBe(60);
    expect(runEndsAt(run())).toBe(1 + 50 / 0.5);
  });

  it("wraps inside a loop in song time", () => {
    const r = run({ offset: 10, tempo: 2, loop: { start: 10, end: 14 } });
    expect(runPosition(r, 1 + 2.5)).toBe(11); // 5 song s in: one pass of 4 and 1 more
    expect(runEndsAt(r)).toBe(Infinity);
  });
});

describe("click track", () => {
  const beats = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5];
  const downbeats = [0, 2];

  it("puts each beat at its song time over the tempo, downbeats accented", () => {
    const r = run({ at: 5, offset: 0.75, tempo: 0.5, end: 4 });
    const clicks = clicksInWindow(r, beats, downbeats, 0, 100);
    expect(clicks.map((c) => c.time)).toEqual([5.5, 6.5, 7.5, 8.5, 9.5, 10.5]);
    expect(clicks.map((c) => c.accent)).toEqual([false, false, true, false, false, false]);
  });

  it("keeps to the window and repeats the loop's beats on every pass", () => {
    const r = run({ at: 0, offset: 1.5, tempo: 1, loop: { start: 1, end: 2 } });
    const clicks = clicksInWindow(r, beats, downbeats, 0, 2.1);
    // 1.5 at 0; wrap at 0.5: 1 and 1.5 each pass of 1 s
    expect(clicks.map((c) => c.time)).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(clicksInWindow(r, beats, downbeats, 1.2, 1.6).map((c) => c.time)).toEqual([1.5]);
  });

  it("no click before the run begins (a later run takes over)", () => {
    expect(clicksInWindow(run({ from: 3, at: 3, offset: 0, tempo: 1 }), beats, downbeats, 0, 3.6).map((c) => c.time)).toEqual([3, 3.5]);
  });

  it("counts beats in a bar from the downbeats; count-in bars accent their first beat", () => {
    expect(beatsPerBar(beats, downbeats)).toBe(4);
    expect(beatsPerBar([0, 1, 2, 3, 4, 5, 6], [0, 3, 6])).toBe(3);
    expect(beatsPerBar([], [])).toBe(4);
    const count = countInClicks(10, 2, 3, 0.5);
    expect(count.map((c) => c.time)).toEqual([10, 10.5, 11, 11.5, 12, 12.5]);
    expect(count.map((c) => c.accent)).toEqual([true, false, false, true, false, false]);
  });
});

describe("key names", () => {
  it("transposes a key by semitones", () => {
    expect(transposeKey("A minor", -2)).toBe("G minor");
    expect(transposeKey("C major", -2)).toBe("Bb major");
    expect(transposeKey("E major", 2)).toBe("F# major");
    expect(transposeKey("Eb major", 0)).toBe("Eb major");
    expect(transposeKey("B minor", 1)).toBe("C minor");
    expect(transposeKey("unknown", 3)).toBe("unknown");
  });

  it("formats semitones with a sign", () => {
    expect(formatSemitones(-2)).toBe("−2 st");
    expect(formatSemitones(0)).toBe("0 st");
    expect(formatSemitones(1.5)).toBe("+1.5 st");
  });
});
