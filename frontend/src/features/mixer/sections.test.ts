import { describe, expect, it } from "vitest";
import type { Section } from "./mixState";
import {
  acceptSuggestions,
  addSection,
  nextSectionName,
  nextSectionStart,
  previousSectionStart,
  removeSection,
  renameSection,
  sectionAt,
  sectionLoop,
  suggestSections,
} from "./sections";

const S = (start: number, name = `at ${start}`): Section => ({ name, start });

describe("sections", () => {
  it("adds at a time, sorted, named by the first free number; not twice at one place", () => {
    let s = addSection([], 30);
    s = addSection(s, 10);
    expect(s).toEqual([S(10, "Section 2"), S(30, "Section 1")]);
    expect(addSection(s, 10.1)).toBe(s);
    expect(nextSectionName([S(0, "Section 2"), S(5, "Intro")])).toBe("Section 3");
  });

  it("renames (trimmed) and removes by index", () => {
    const s = [S(0, "a"), S(10, "b")];
    expect(renameSection(s, 1, "  Chorus ")).toEqual([S(0, "a"), S(10, "Chorus")]);
    expect(renameSection(s, 1, "b")).toBe(s);
    expect(removeSection(s, 0)).toEqual([S(10, "b")]);
  });

  it("loops a section to the next one's start, the last to the song's end", () => {
    const s = [S(5), S(20)];
    expect(sectionLoop(s, 0, 60)).toEqual({ start: 5, end: 20 });
    expect(sectionLoop(s, 1, 60)).toEqual({ start: 20, end: 60 });
    expect(sectionLoop(s, 2, 60)).toBeNull();
    expect(sectionLoop([S(60)], 0, 60)).toBeNull();
  });

  it("finds the section playing and jumps back and forth", () => {
    const s = [S(5), S(20), S(40)];
    expect(sectionAt(s, 3)).toBe(-1);
    expect(sectionAt(s, 20)).toBe(1);
    expect(sectionAt(s, 39.9)).toBe(1);
    expect(nextSectionStart(s, 20)).toBe(40);
    expect(nextSectionStart(s, 45)).toBeNull();
    expect(previousSectionStart(s, 30)).toBe(20); // to the start of the section playing
    expect(previousSectionStart(s, 20.5)).toBe(5); // just after a start: the one before
    expect(previousSectionStart(s, 3)).toBe(0);
    expect(previousSectionStart([], 3)).toBeNull();
  });

  it("suggests a section every 8 bars of downbeats, not where one already is", () => {
    const downbeats = Array.from({ length: 20 }, (_, i) => i * 2); // a bar every 2 s
    expect(suggestSections(downbeats, [])).toEqual([S(0, "Bar 1"), S(16, "Bar 9"), S(32, "Bar 17")]);
    const existing = [S(16.1, "Verse")];
    const suggested = suggestSections(downbeats, existing);
    expect(suggested.map((x) => x.start)).toEqual([0, 32]);
    expect(acceptSuggestions(existing, suggested)).toEqual([S(0, "Bar 1"), S(16.1, "Verse"), S(32, "Bar 17")]);
    expect(suggestSections([], [])).toEqual([]);
  });
});
