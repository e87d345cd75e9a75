import { describe, expect, it } from "vitest";
import { clampView, followView, fractionOf, fullView, MAX_ZOOM, peakRange, scrollBy, snapLoop, snapToBeat, timeAtFraction, zoomAt, zoomLevel } from "./waveView";

describe("waveform view", () => {
  it("zooms around an anchor, which stays at the same place on screen", () => {
    const v = zoomAt(fullView(100), 2, 25, 100);
    expect(v).toEqual({ start: 12.5, span: 50 });
    expect(fractionOf(v, 25)).toBeCloseTo(0.25);
    expect(zoomLevel(v, 100)).toBe(2);
    const back = zoomAt(v, 0.5, 25, 100);
    expect(back).toEqual({ start: 0, span: 100 });
  });

  it("keeps the view inside the song and the zoom within its limits", () => {
    expect(zoomAt(fullView(100), 1000, 50, 100).span).toBeCloseTo(100 / MAX_ZOOM);
    expect(zoomAt({ start: 90, span: 20 }, 1, 95, 100)).toEqual({ start: 80, span: 20 });
    expect(scrollBy({ start: 10, span: 20 }, -50, 100)).toEqual({ start: 0, span: 20 });
    expect(scrollBy({ start: 10, span: 20 }, 500, 100)).toEqual({ start: 80, span: 20 });
    expect(clampView({ start: 5, span: 300 }, 100)).toEqual({ start: 0, span: 100 });
    expect(clampView({ start: 5, span: 10 }, 0)).toEqual({ start: 0, span: 0 });
  });

  it("maps screen fractions to seconds and picks the peaks in view", () => {
    const v = { start: 20, span: 10 };
    expect(timeAtFraction(v, 0.5)).toBe(25);
    expect(timeAtFraction(v, 2)).toBe(30);
    expect(peakRange(v, 100, 1000)).toEqual([200, 300]);
    expect(peakRange({ start: 99.99, span: 0.01 }, 100, 10)).toEqual([9, 10]);
  });

  it("follows the playhead a page at a time, and back after a seek", () => {
    const v = { start: 0, span: 10 };
    expect(followView(v, 5, 100)).toBe(v);
    expect(followView(v, 9.5, 100)).toEqual({ start: 8.5, span: 10 });
    expect(followView({ start: 50, span: 10 }, 3, 100)).toEqual({ start: 2, span: 10 });
    expect(followView(v, 99.9, 100)).toEqual({ start: 90, span: 10 });
  });

  it("snaps to the nearest beat, and a loop to beats with a length", () => {
    const beats = [0, 0.5, 1, 1.5, 2];
    expect(snapToBeat(0.7, beats)).toBe(0.5);
    expect(snapToBeat(0.8, beats)).toBe(1);
    expect(snapToBeat(5, beats)).toBe(2);
    expect(snapToBeat(0.7, beats, 0.1)).toBe(0.7);
    expect(snapToBeat(0.7, [])).toBe(0.7);
    expect(snapLoop({ start: 0.4, end: 1.6 }, beats)).toEqual({ start: 0.5, end: 1.5 });
    expect(snapLoop({ start: 0.9, end: 1.1 }, beats)).toEqual({ start: 1, end: 1.5 });
    expect(snapLoop({ start: 0.9, end: 1.1 }, [1])).toEqual({ start: 0.9, end: 1.1 });
  });
});
