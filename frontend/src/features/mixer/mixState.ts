// The whole mix a user can undo and save: the stems and master (MixSettings, what the engine
// plays), the practice settings (tempo, pitch, click, count-in), the sections and the loop.
// `toSavedSettings`/`fromSavedSettings` are the named mixes' `settings` JSON (snake_case).
import type { LoopRegion } from "../../audio/engine";
import { MAX_DB, MIN_DB, clamp, initialTracks, type MixSettings, type TrackState } from "../../audio/mixmath";
import { MAX_COUNT_IN_BARS, MAX_PITCH, MAX_TEMPO, MIN_TEMPO } from "../../audio/practice";

export interface ClickState {
  gainDb: number;
  mute: boolean;
  pan: number;
}

export interface Section {
  name: string;
  start: number;
}

export interface MixState extends MixSettings {
  /** Playback speed as a factor, 0.5–1.5 (1 = as recorded). */
  tempo: number;
  pitchSemitones: number;
  click: ClickState;
  countInBars: number;
  /** Sorted by start; a section lasts until the next one (or the end of the song). */
  sections: Section[];
  loop: LoopRegion | null;
  loopEnabled: boolean;
}

export const DEFAULT_CLICK: Readonly<ClickState> = { gainDb: 0, mute: true, pan: 0 };

export function initialMixState(stemNames: readonly string[]): MixState {
  return {
    stems: initialTracks(stemNames),
    masterGainDb: 0,
    tempo: 1,
    pitchSemitones: 0,
    click: { ...DEFAULT_CLICK },
    countInBars: 0,
    sections: [],
    loop: null,
    loopEnabled: false,
  };
}

/** The settings JSON of a named mix (API: POST /api/projects/{id}/mixes). */
export interface SavedSettings {
  stems: Record<string, { gain_db: number; mute: boolean; solo: boolean; pan: number }>;
  master_gain_db: number;
  tempo: number;
  pitch_semitones: number;
  click: { gain_db: number; mute: boolean; pan: number };
  count_in_bars: number;
  sections: Section[];
  loop: LoopRegion | null;
}

export function toSavedSettings(mix: MixState): SavedSettings {
  const stems: SavedSettings["stems"] = {};
  for (const [name, t] of Object.entries(mix.stems)) stems[name] = { gain_db: t.gainDb, mute: t.mute, solo: t.solo, pan: t.pan };
  return {
    stems,
    master_gain_db: mix.masterGainDb,
    tempo: mix.tempo,
    pitch_semitones: mix.pitchSemitones,
    click: { gain_db: mix.click.gainDb, mute: mix.click.mute, pan: mix.click.pan },
    count_in_bars: mix.countInBars,
    sections: mix.sections.map((s) => ({ name: s.name, start: s.start })),
    loop: mix.loop ? { start: mix.loop.start, end: mix.loop.end } : null,
  };
}

const num = (v: unknown, fallback: number, lo: number, hi: number) => {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? clamp(n, lo, hi) : fallback;
};
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

function parseTrack(raw: Record<string, unknown>, gainKey: string): TrackState {
  return { gainDb: num(raw[gainKey], 0, MIN_DB, MAX_DB), mute: Boolean(raw.mute), solo: Boolean(raw.solo), pan: num(raw.pan, 0, -1, 1) };
}

export function parseSections(raw: unknown, duration = Infinity): Section[] {
  if (!Array.isArray(raw)) return [];
  const out: Section[] = [];
  for (const item of raw) {
    const s = obj(item);
    const start = Number(s.start);
    if (!Number.isFinite(start) || start < 0 || start > duration) continue;
    out.push({ name: typeof s.name === "string" ? s.name.slice(0, 80) : "", start });
  }
  return out.sort((a, b) => a.start - b.start);
}

export function parseLoop(raw: unknown, duration = Infinity): LoopRegion | null {
  const l = obj(raw);
  const start = Number(l.start);
  const end = Number(l.end);
  if (!Number.isFinite(start) || !Number.isFinite(end)) return null;
  const a = clamp(start, 0, duration);
  const b = clamp(end, 0, duration);
  return b - a > 0.05 ? { start: a, end: b } : null;
}

/**
 * A MixState from stored JSON: the named mixes' snake_case settings, or the camelCase state kept
 * in localStorage. Unknown stems are dropped, missing ones start at 0 dB, numbers are clamped.
 */
export function parseMixState(raw: unknown, stemNames: readonly string[], duration = Infinity): MixState {
  const mix = initialMixState(stemNames);
  const r = obj(raw);
  const snake = "master_gain_db" in r || "pitch_semitones" in r;
  const stems = obj(r.stems);
  for (const name of stemNames) {
    if (name in stems) mix.stems[name] = parseTrack(obj(stems[name]), snake ? "gain_db" : "gainDb");
  }
  mix.masterGainDb = num(snake ? r.master_gain_db : r.masterGainDb, 0, MIN_DB, MAX_DB);
  mix.tempo = num(r.tempo, 1, MIN_TEMPO, MAX_TEMPO);
  mix.pitchSemitones = Math.round(num(snake ? r.pitch_semitones : r.pitchSemitones, 0, -MAX_PITCH, MAX_PITCH) * 100) / 100;
  if (r.click !== undefined) {
    const c = obj(r.click);
    mix.click = { gainDb: num(snake ? c.gain_db : c.gainDb, 0, MIN_DB, MAX_DB), mute: c.mute === undefined ? true : Boolean(c.mute), pan: num(c.pan, 0, -1, 1) };
  }
  mix.countInBars = Math.round(num(snake ? r.count_in_bars : r.countInBars, 0, 0, MAX_COUNT_IN_BARS));
  mix.sections = parseSections(r.sections, duration);
  mix.loop = parseLoop(r.loop, duration);
  mix.loopEnabled = !snake && mix.loop !== null && Boolean(r.loopEnabled);
  return mix;
}

/** Whether two states save to the same settings (the loop's on/off is not part of a saved mix). */
export function sameSettings(a: MixState, b: MixState): boolean {
  return JSON.stringify(toSavedSettings(a)) === JSON.stringify(toSavedSettings(b));
}

/** The practice controls of an engine that has them (engine.ts gains them; the streaming engine may not). */
interface PracticeEngine {
  setTempo?: (factor: number) => void;
  setPitch?: (semitones: number) => void;
  setClick?: (click: ClickState) => void;
  setCountIn?: (bars: number) => void;
}

/** Tempo, pitch, click and count-in into the engine, as far as it has the controls. */
export function applyPractice(engine: object, mix: MixState): void {
  const e = engine as PracticeEngine;
  if (typeof e.setTempo === "function") e.setTempo(mix.tempo);
  if (typeof e.setPitch === "function") e.setPitch(mix.pitchSemitones);
  if (typeof e.setClick === "function") e.setClick(mix.click);
  if (typeof e.setCountIn === "function") e.setCountIn(mix.countInBars);
}
