import { describe, expect, it } from "vitest";
import { COALESCE_MS, createHistory, HISTORY_LIMIT, record, redo, seal, undo } from "./mixHistory";

describe("mix history", () => {
  it("undoes and redoes each move, and a new move drops the redo steps", () => {
    let h = createHistory(0);
    h = record(h, 1);
    h = record(h, 2);
    h = undo(h);
    expect(h.present).toBe(1);
    h = undo(h);
    expect(h.present).toBe(0);
    expect(undo(h)).toBe(h); // nothing left to undo
    h = redo(h);
    expect(h.present).toBe(1);
    h = record(h, 5);
    expect(h.future).toEqual([]);
    expect(redo(h)).toBe(h);
    expect(undo(h).present).toBe(1);
  });

  it("coalesces a run of moves of one control into one step", () => {
    let h = createHistory(0);
    for (let v = 1; v <= 10; v++) h = record(h, v, "gainDb:vocals", v * 16);
    expect(h.past).toEqual([0]);
    expect(h.present).toBe(10);
    expect(undo(h).present).toBe(0);
  });

  it("starts a new step for another control, after a seal, or after a pause", () => {
    let h = record(createHistory(0), 1, "gainDb:vocals", 0);
    h = record(h, 2, "gainDb:drums", 10);
    expect(h.past).toEqual([0, 1]);
    h = record(seal(h), 3, "gainDb:drums", 20); // the drag ended, another began
    expect(h.past).toEqual([0, 1, 2]);
    h = record(h, 4, "gainDb:drums", 20 + COALESCE_MS + 1);
    expect(h.past).toEqual([0, 1, 2, 3]);
    h = record(h, 5); // no key: never coalesced
    h = record(h, 6);
    expect(h.past).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("does not coalesce into a step that was undone", () => {
    let h = record(createHistory(0), 1, "pan:bass", 0);
    h = undo(h);
    h = record(h, 2, "pan:bass", 1);
    expect(h.past).toEqual([0]);
    expect(undo(h).present).toBe(0);
  });

  it("a move to the same state is no step, and old steps are forgotten past the limit", () => {
    const start = createHistory({ a: 1 });
    expect(record(start, start.present)).toBe(start);
    let h = createHistory(0);
    for (let v = 1; v <= HISTORY_LIMIT + 10; v++) h = record(h, v);
    expect(h.past.length).toBe(HISTORY_LIMIT);
    expect(h.past[0]).toBe(10);
  });
});
