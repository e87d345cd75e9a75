import { describe, expect, it } from "vitest";
import {
  audibleStems,
  dbToFaderPosition,
  dbToGain,
  downsamplePeaks,
  effectiveStemGains,
  faderPositionToDb,
  formatDb,
  formatPan,
  formatTime,
  gainToDb,
  initialTracks,
  panGains,
  panStereoFrame,
  peakDisplayScale,
  peaksFromChannels,
  playheadPosition,
  snapDb,
  toExportStems,
  type TrackState,
} from "./mixmath";

const t = (over: Partial<TrackState> = {}): TrackState => ({ gainDb: 0, mute: false, solo: false, pan: 0, ...over });

describe("dbToGain", () => {
  it.each([
    [0, 1],
    [-6, 0.501187],
    [6, 1.995262],
    [-20, 0.1],
    [-60, 0.001],
    [12, 3.981072],
  ])("%s dB -> %s", (db, gain) => {
    expect(dbToGain(db)).toBeCloseTo(gain, 5);
  });
  it("round-trips through gainToDb", () => {
    for (const db of [-60, -13.5, 0, 3, 12]) expect(gainToDb(dbToGain(db))).toBeCloseTo(db, 9);
    expect(gainToDb(0)).toBe(-Infinity);
  });
});

describe("audibleStems", () => {
  it("everything plays with no mute or solo", () => {
    expect([...audibleStems({ a: t(), b: t() })].sort()).toEqual(["a", "b"]);
  });
  it("mute removes a stem", () => {
    expect([...audibleStems({ a: t({ mute: true }), b: t() })]).toEqual(["b"]);
  });
  it("any solo keeps only soloed stems", () => {
    expect([...audibleStems({ a: t({ solo: true }), b: t(), c: t({ solo: true }) })].sort()).toEqual(["a", "c"]);
  });
  it("mute wins over solo", () => {
    expect([...audibleStems({ a: t({ solo: true, mute: true }), b: t() })]).toEqual([]);
  });
  it("works for any stem names (6 stems, unknown names)", () => {
    const names = ["vocals", "drums", "bass", "other", "guitar", "piano"];
    const stems = initialTracks(names);
    stems.guitar!.solo = true;
    expect([...audibleStems(stems)]).toEqual(["guitar"]);
  });
  it("effective gains: 0 for inaudible, fader gain otherwise", () => {
    const gains = effectiveStemGains({ a: t({ gainDb: -6 }), b: t({ mute: true, gainDb: 6 }) });
    expect(gains.a).toBeCloseTo(0.501187, 5);
    expect(gains.b).toBe(0);
  });
});

describe("panGains (Web Audio spec, stereo input)", () => {
  it("centre passes both channels unchanged", () => {
    const [l, r] = panStereoFrame(0, 0.5, -0.25);
    expect(l).toBeCloseTo(0.5, 12);
    expect(r).toBeCloseTo(-0.25, 12);
  });
  it("hard left folds the right channel into the left", () => {
    const [l, r] = panStereoFrame(-1, 0.5, 0.25);
    expect(l).toBeCloseTo(0.75, 12);
    expect(r).toBeCloseTo(0, 12);
  });
  it("hard right folds the left channel into the right", () => {
    const [l, r] = panStereoFrame(1, 0.5, 0.25);
    expect(l).toBeCloseTo(0, 12);
    expect(r).toBeCloseTo(0.75, 12);
  });
  it("partial pan follows x = pan + 1 (left) and x = pan (right)", () => {
    const left = panGains(-0.5);
    expect(left.gL).toBeCloseTo(Math.cos(0.25 * Math.PI), 12);
    expect(left.gR).toBeCloseTo(Math.sin(0.25 * Math.PI), 12);
    const [l, r] = panStereoFrame(0.3, 1, 1);
    expect(l).toBeCloseTo(Math.cos((0.3 * Math.PI) / 2), 12);
    expect(r).toBeCloseTo(1 + Math.sin((0.3 * Math.PI) / 2), 12);
  });
  it("gains are equal power", () => {
    for (const p of [-1, -0.7, -0.2, 0.1, 0.6, 1]) {
      const { gL, gR } = panGains(p);
      expect(gL * gL + gR * gR).toBeCloseTo(1, 12);
    }
  });
});

describe("fader mapping", () => {
  it("ends of travel are -60 and +12 dB", () => {
    expect(faderPositionToDb(0)).toBe(-60);
    expect(faderPositionToDb(1)).toBe(12);
  });
  it("round-trips and is monotonic", () => {
    let prev = -Infinity;
    for (let p = 0; p <= 1.0001; p += 0.05) {
      const db = faderPositionToDb(p);
      expect(db).toBeGreaterThan(prev);
      prev = db;
      expect(dbToFaderPosition(db)).toBeCloseTo(Math.min(p, 1), 9);
    }
  });
  it("clamps out-of-range input", () => {
    expect(dbToFaderPosition(40)).toBe(1);
    expect(dbToFaderPosition(-100)).toBe(0);
    expect(faderPositionToDb(2)).toBe(12);
  });
  it("0 dB sits in the upper half of the travel", () => {
    const p = dbToFaderPosition(0);
    expect(p).toBeGreaterThan(0.5);
    expect(p).toBeLessThan(0.75);
  });
});

describe("formatting", () => {
  it.each([
    [0, "0:00"],
    [5.99, "0:05"],
    [65, "1:05"],
    [3600 + 62, "1:01:02"],
    [-3, "0:00"],
    [Number.NaN, "0:00"],
  ])("formatTime(%s) = %s", (s, text) => {
    expect(formatTime(s)).toBe(text);
  });
  it("formats tenths", () => {
    expect(formatTime(61.25, true)).toBe("1:01.2");
  });
  it("formats dB and pan for screen readers", () => {
    expect(formatDb(-6)).toBe("-6 dB");
    expect(formatDb(3.25)).toBe("+3.3 dB");
    expect(formatDb(0)).toBe("0 dB");
    expect(formatDb(-Infinity)).toBe("-∞ dB");
    expect(formatPan(0)).toBe("centre");
    expect(formatPan(-0.5)).toBe("50% left");
    expect(formatPan(1)).toBe("100% right");
  });
});

describe("downsamplePeaks", () => {
  it("keeps the max of each group", () => {
    expect([...downsamplePeaks([0.1, 0.9, 0.2, 0.3, 0.5, 0.4], 3)].map((v) => +v.toFixed(3))).toEqual([0.9, 0.3, 0.5]);
  });
  it("repeats peaks when asked for more columns than peaks", () => {
    expect([...downsamplePeaks([0.5, 1], 4)]).toEqual([0.5, 0.5, 1, 1]);
  });
  it("handles empty input and zero width", () => {
    expect(downsamplePeaks([], 10).length).toBe(10);
    expect(downsamplePeaks([0.5], 0).length).toBe(0);
  });
  it("covers every input exactly once for uneven sizes", () => {
    const peaks = Array.from({ length: 1000 }, (_, i) => (i === 777 ? 1 : 0.01));
    const cols = downsamplePeaks(peaks, 37);
    expect(cols.filter((v) => v === 1).length).toBe(1);
  });
});

describe("playheadPosition", () => {
  it("advances and stops at the end", () => {
    expect(playheadPosition(10, 2.5, 100, null)).toBe(12.5);
    expect(playheadPosition(99, 5, 100, null)).toBe(100);
  });
  it("wraps inside a loop region", () => {
    expect(playheadPosition(2, 3, 100, { start: 2, end: 4 })).toBeCloseTo(3, 9);
    expect(playheadPosition(0, 5, 100, { start: 2, end: 4 })).toBeCloseTo(3, 9);
  });
});

it("toExportStems maps to the API body", () => {
  expect(toExportStems({ stems: { vocals: t({ gainDb: -3, mute: true, pan: 0.5 }) }, masterGainDb: 2 })).toEqual({
    stems: { vocals: { gain_db: -3, mute: true, solo: false, pan: 0.5 } },
    master_gain_db: 2,
  });
});

describe("peaksFromChannels", () => {
  it("takes the max abs across channels per bucket", () => {
    const l = new Float32Array([0.1, -0.5, 0.2, 0.0]);
    const r = new Float32Array([0.3, 0.1, -0.9, 0.05]);
    expect([...peaksFromChannels([l, r], 2)].map((v) => +v.toFixed(3))).toEqual([0.5, 0.9]);
  });
  it("empty audio gives zeros", () => {
    expect([...peaksFromChannels([], 3)]).toEqual([0, 0, 0]);
  });
});

it("snapDb snaps near unity and rounds", () => {
  expect(snapDb(0.3)).toBe(0);
  expect(snapDb(-6.04)).toBe(-6);
  expect(snapDb(3.46)).toBe(3.5);
});

it("peakDisplayScale fits the loudest stem, with a floor for silence", () => {
  expect(peakDisplayScale({ a: [0.1, 0.25], b: [0.5] })).toBe(2);
  expect(peakDisplayScale({ a: [0, 0] })).toBe(100);
  expect(peakDisplayScale({ a: [1.5] })).toBe(1);
});
