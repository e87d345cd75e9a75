// The part of the song the waveforms show (zoom and scroll), and snapping to the beat grid.
// Pure maths: a view is a window [start, start + span) of a song `duration` seconds long.

export interface WaveView {
  start: number;
  span: number;
}

export const MAX_ZOOM = 64;
/** One + or − press, or one wheel notch with Ctrl, zooms by this factor. */
export const ZOOM_STEP = 1.5;

export function fullView(duration: number): WaveView {
  return { start: 0, span: Math.max(duration, 0) };
}

export function zoomLevel(view: WaveView, duration: number): number {
  return view.span > 0 ? duration / view.span : 1;
}

/** The view kept inside the song: span between duration/MAX_ZOOM and duration, start within it. */
export function clampView(view: WaveView, duration: number): WaveView {
  if (!(duration > 0)) return { start: 0, span: 0 };
  const span = Math.min(duration, Math.max(duration / MAX_ZOOM, view.span));
  const start = Math.min(duration - span, Math.max(0, view.start));
  return { start, span };
}

/** Zoomed in by `factor` (> 1 in, < 1 out), keeping `anchor` seconds at the same place on screen. */
export function zoomAt(view: WaveView, factor: number, anchor: number, duration: number): WaveView {
  const span = clampView({ start: 0, span: view.span / factor }, duration).span;
  const fraction = view.span > 0 ? (anchor - view.start) / view.span : 0;
  return clampView({ start: anchor - fraction * span, span }, duration);
}

export function scrollBy(view: WaveView, seconds: number, duration: number): WaveView {
  return clampView({ start: view.start + seconds, span: view.span }, duration);
}

/** Seconds at `fraction` (0..1) across the view. */
export function timeAtFraction(view: WaveView, fraction: number): number {
  return view.start + Math.max(0, Math.min(1, fraction)) * view.span;
}

/** Where `time` is across the view (0..1 inside, outside it beyond). */
export function fractionOf(view: WaveView, time: number): number {
  return view.span > 0 ? (time - view.start) / view.span : 0;
}

/**
 * The view that keeps the playhead in sight while playing: unchanged while `time` is in its
 * first 90 %, else a page on with the playhead a tenth in (or back to it, after a seek back).
 */
export function followView(view: WaveView, time: number, duration: number): WaveView {
  const f = fractionOf(view, time);
  if (f >= 0 && f < 0.9) return view;
  return clampView({ start: time - view.span * 0.1, span: view.span }, duration);
}

/** The index range of `count` peaks (spread over the song) inside the view, at least one. */
export function peakRange(view: WaveView, duration: number, count: number): [number, number] {
  if (!(duration > 0) || count === 0) return [0, count];
  const from = Math.max(0, Math.min(count - 1, Math.floor((view.start / duration) * count)));
  const to = Math.max(from + 1, Math.min(count, Math.ceil(((view.start + view.span) / duration) * count)));
  return [from, to];
}

/** The beat nearest `time` within `tolerance` seconds, or `time` itself. `beats` sorted. */
export function snapToBeat(time: number, beats: readonly number[], tolerance = Infinity): number {
  if (beats.length === 0) return time;
  let lo = 0;
  let hi = beats.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (beats[mid]! < time) lo = mid + 1;
    else hi = mid;
  }
  const candidates = [beats[lo - 1], beats[lo]].filter((b): b is number => b !== undefined);
  let best = candidates[0]!;
  for (const b of candidates) if (Math.abs(b - time) < Math.abs(best - time)) best = b;
  return Math.abs(best - time) <= tolerance ? best : time;
}

/** A loop with both ends on beats; if both ends land on one beat, the end goes to the next. */
export function snapLoop(loop: { start: number; end: number }, beats: readonly number[]): { start: number; end: number } {
  if (beats.length < 2) return loop;
  const start = snapToBeat(loop.start, beats);
  let end = snapToBeat(loop.end, beats);
  if (end <= start) end = beats.find((b) => b > start) ?? loop.end;
  return end > start ? { start, end } : loop;
}
