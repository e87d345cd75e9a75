// Sections: named markers on the song's timeline. A section runs from its start to the next
// section's start (or the song's end). Pure functions over the sorted list in MixState.
import type { LoopRegion } from "../../audio/engine";
import type { Section } from "./mixState";

/** Two markers closer than this are one place (a second press of the key adds nothing). */
export const SAME_PLACE_SECONDS = 0.25;
/** Suggestions: a section every this many bars of the beat grid. */
export const BARS_PER_SUGGESTION = 8;

export function sortSections(sections: readonly Section[]): Section[] {
  return [...sections].sort((a, b) => a.start - b.start);
}

/** The default name of a new section: the first "Section N" not taken. */
export function nextSectionName(sections: readonly Section[]): string {
  const taken = new Set(sections.map((s) => s.name));
  for (let n = sections.length + 1; ; n++) if (!taken.has(`Section ${n}`)) return `Section ${n}`;
}

/** The list with a section at `start` (unchanged, the same array, if one is already there). */
export function addSection(sections: readonly Section[], start: number, name?: string): Section[] {
  if (sections.some((s) => Math.abs(s.start - start) < SAME_PLACE_SECONDS)) return sections as Section[];
  return sortSections([...sections, { name: name ?? nextSectionName(sections), start: Math.max(0, start) }]);
}

export function renameSection(sections: readonly Section[], index: number, name: string): Section[] {
  const trimmed = name.trim().slice(0, 80);
  if (!sections[index] || sections[index].name === trimmed) return sections as Section[];
  return sections.map((s, i) => (i === index ? { ...s, name: trimmed } : s));
}

export function removeSection(sections: readonly Section[], index: number): Section[] {
  return sections.filter((_, i) => i !== index);
}

/** Where section `index` ends: the next section's start, or the song's end. */
export function sectionEnd(sections: readonly Section[], index: number, duration: number): number {
  return sections[index + 1]?.start ?? duration;
}

/** The loop region of a section (null for one with no length). */
export function sectionLoop(sections: readonly Section[], index: number, duration: number): LoopRegion | null {
  const s = sections[index];
  if (!s) return null;
  const end = sectionEnd(sections, index, duration);
  return end - s.start > 0.05 ? { start: s.start, end } : null;
}

/** The section playing at `time` (the last one starting at or before it), or -1 before the first. */
export function sectionAt(sections: readonly Section[], time: number): number {
  let found = -1;
  for (let i = 0; i < sections.length; i++) if (sections[i]!.start <= time + 1e-6) found = i;
  return found;
}

/**
 * Where "previous section" goes from `time`: the start of the section playing, unless playback
 * is within `grace` seconds of it (then the one before), as a CD player's back button does.
 * Returns null with nowhere to go.
 */
export function previousSectionStart(sections: readonly Section[], time: number, grace = 1): number | null {
  for (let i = sections.length - 1; i >= 0; i--) if (sections[i]!.start < time - grace) return sections[i]!.start;
  return sections.length && time > 0 ? 0 : null;
}

export function nextSectionStart(sections: readonly Section[], time: number): number | null {
  return sections.find((s) => s.start > time + 1e-3)?.start ?? null;
}

/**
 * Suggested section starts from the beat grid: every `bars` downbeats from the first, not
 * where a section already is. Empty without downbeats.
 */
export function suggestSections(downbeats: readonly number[], existing: readonly Section[], bars = BARS_PER_SUGGESTION): Section[] {
  const out: Section[] = [];
  const all = [...existing];
  for (let i = 0; i < downbeats.length; i += bars) {
    const start = downbeats[i]!;
    if (!Number.isFinite(start) || all.some((s) => Math.abs(s.start - start) < SAME_PLACE_SECONDS)) continue;
    const name = `Bar ${i + 1}`;
    out.push({ name, start });
    all.push({ name, start });
  }
  return out;
}

/** The list with the suggestions accepted (sorted, none twice). */
export function acceptSuggestions(sections: readonly Section[], suggestions: readonly Section[]): Section[] {
  let out = sections as Section[];
  for (const s of suggestions) out = addSection(out, s.start, s.name);
  return out;
}
