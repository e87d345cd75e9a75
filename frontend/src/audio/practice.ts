// Pure helpers for the practice tools: tempo and pitch, the song-time clock, the click track and
// the count-in. The engine (engine.ts) and the controls (features/mixer/PracticeControls.tsx) use them.
import { clamp } from "./mixmath";

export const MIN_TEMPO = 0.5;
export const MAX_TEMPO = 1.5;
export const MIN_PITCH = -12;
export const MAX_PITCH = 12;
export const MAX_COUNT_IN_BARS = 4;

export function clampTempo(factor: number): number {
  return Number.isFinite(factor) ? clamp(factor, MIN_TEMPO, MAX_TEMPO) : 1;
}

export function clampPitch(semitones: number): number {
  return Number.isFinite(semitones) ? clamp(Math.round(semitones * 100) / 100, MIN_PITCH, MAX_PITCH) : 0;
}

/**
 * The stems play at `tempo` × their speed (AudioBufferSourceNode.playbackRate: all together, on
 * the same clock), which also moves their pitch by 12·log2(tempo) semitones; the stretch after
 * the mix shifts it back and by the user's `pitch`.
 */
export function stretchSemitones(tempo: number, pitch: number): number {
  return pitch - 12 * Math.log2(tempo);
}

/** Whether tempo and pitch leave the song as it is (the stretch is then bypassed). */
export function isNeutral(tempo: number, pitch: number): boolean {
  return Math.abs(tempo - 1) < 1e-6 && Math.abs(pitch) < 1e-6;
}

/**
 * One stretch of playback: song position `offset` is heard at context time `at`, and the song
 * moves `tempo` song seconds per second from there, wrapping in `loop`, stopping at `end`.
 * From context time `from` (≤ at) the clock shows this run (a count-in shows its `offset`).
 */
export interface Run {
  from: number;
  at: number;
  offset: number;
  tempo: number;
  loop: { start: number; end: number } | null;
  end: number;
}

/** The song position heard at context time `now` in `run` (song seconds). */
export function runPosition(run: Run, now: number): number {
  const pos = run.offset + Math.max(0, now - run.at) * run.tempo;
  const loop = run.loop;
  if (loop && loop.end > loop.start && run.offset < loop.end && pos >= loop.end) {
    return loop.start + ((pos - loop.start) % (loop.end - loop.start));
  }
  return Math.min(pos, run.end);
}

/** Context time at which `run` reaches its `end` (Infinity while it loops). */
export function runEndsAt(run: Run): number {
  if (run.loop && run.offset < run.loop.end) return Infinity;
  return run.at + Math.max(0, run.end - run.offset) / run.tempo;
}

export interface Click {
  time: number;
  accent: boolean;
}

/**
 * The clicks of `run` that sound in context time [t0, t1): every beat (song seconds) the run
 * passes, a downbeat accented, each loop pass again. Sorted by time.
 */
export function clicksInWindow(run: Run, beats: readonly number[], downbeats: readonly number[], t0: number, t1: number): Click[] {
  const out: Click[] = [];
  const accent = new Set(downbeats.map((d) => Math.round(d * 1000)));
  const isAccent = (b: number) => accent.has(Math.round(b * 1000));
  const push = (time: number, b: number) => {
    if (time >= t0 && time < t1 && time >= run.from) out.push({ time, accent: isAccent(b) });
  };
  const loop = run.loop && run.loop.end > run.loop.start && run.offset < run.loop.end ? run.loop : null;
  const firstEnd = loop ? loop.end : run.end;
  for (const b of beats) {
    if (b >= run.offset && b < firstEnd) push(run.at + (b - run.offset) / run.tempo, b);
  }
  if (loop) {
    const len = (loop.end - loop.start) / run.tempo;
    const wrapAt = run.at + (loop.end - run.offset) / run.tempo; // first pass after the wrap
    const kFirst = Math.max(0, Math.floor((t0 - wrapAt) / len) - 1);
    const kLast = Math.ceil((t1 - wrapAt) / len);
    for (let k = kFirst; k <= kLast; k++) {
      for (const b of beats) {
        if (b >= loop.start && b < loop.end) push(wrapAt + k * len + (b - loop.start) / run.tempo, b);
      }
    }
  }
  return out.sort((a, b) => a.time - b.time);
}

/** Beats in a bar: the most common count of beats from one downbeat to the next (4 without them). */
export function beatsPerBar(beats: readonly number[], downbeats: readonly number[]): number {
  const counts = new Map<number, number>();
  for (let i = 0; i + 1 < downbeats.length; i++) {
    const n = beats.filter((b) => b >= downbeats[i]! - 1e-3 && b < downbeats[i + 1]! - 1e-3).length;
    if (n >= 2 && n <= 12) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  let best = 4;
  let seen = 0;
  for (const [n, c] of counts) {
    if (c > seen) {
      best = n;
      seen = c;
    }
  }
  return best;
}

/** Count-in clicks from context time `start`: `bars` bars of `perBar` beats, `beatSeconds` apart. */
export function countInClicks(start: number, bars: number, perBar: number, beatSeconds: number): Click[] {
  const n = Math.max(0, Math.round(bars)) * perBar;
  return Array.from({ length: n }, (_, i) => ({ time: start + i * beatSeconds, accent: i % perBar === 0 }));
}

const SHARPS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const FLATS = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"];
const PITCH_CLASS: Record<string, number> = { C: 0, D: 2, E: 4, F: 5, G: 7, A: 9, B: 11 };

/**
 * A key such as "A minor" or "Eb major" moved by whole `semitones` (rounded), spelled with flats
 * for the keys musicians write with flats (F major, Bb, Eb, Ab, Db; D, G, C, F minor ...).
 * Unparseable keys come back as they are.
 */
export function transposeKey(key: string, semitones: number): string {
  const match = /^\s*([A-Ga-g])([#b♯♭]?)\s*(.*)$/.exec(key);
  if (!match) return key;
  const [, letter, accidental, rest] = match;
  let pc = PITCH_CLASS[letter!.toUpperCase()]!;
  if (accidental === "#" || accidental === "♯") pc += 1;
  if (accidental === "b" || accidental === "♭") pc -= 1;
  const shifted = (((pc + Math.round(semitones)) % 12) + 12) % 12;
  const minor = /min|^m\b/i.test(rest!);
  const flatKeys = minor ? [0, 2, 5, 7, 10, 3] : [5, 10, 3, 8, 1];
  const name = (flatKeys.includes(shifted) ? FLATS : SHARPS)[shifted]!;
  return rest ? `${name} ${rest.trim()}` : name;
}

export function formatTempo(factor: number): string {
  return `${Math.round(factor * 100)} %`;
}

export function formatSemitones(semitones: number): string {
  if (Math.abs(semitones) < 1e-6) return "0 st";
  const text = Number.isInteger(semitones) ? String(Math.abs(semitones)) : Math.abs(semitones).toFixed(1);
  return `${semitones > 0 ? "+" : "−"}${text} st`;
}
