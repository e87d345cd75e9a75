// Pure mix math shared by the live mixer, the offline render and the UI. It mirrors the
// server's render (API.md "Mix semantics") so a browser mix and a server export agree.

export const MIN_DB = -60;
export const MAX_DB = 12;

export interface TrackState {
  gainDb: number;
  mute: boolean;
  solo: boolean;
  pan: number;
}

export interface MixSettings {
  stems: Record<string, TrackState>;
  masterGainDb: number;
}

export const DEFAULT_TRACK: Readonly<TrackState> = { gainDb: 0, mute: false, solo: false, pan: 0 };

export function clamp(value: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, value));
}

export function dbToGain(db: number): number {
  return 10 ** (db / 20);
}

export function gainToDb(gain: number): number {
  return gain <= 0 ? -Infinity : 20 * Math.log10(gain);
}

/** Stems that are heard: with any solo, only soloed stems; a mute always wins. */
export function audibleStems(stems: Record<string, Pick<TrackState, "mute" | "solo">>): Set<string> {
  const names = Object.keys(stems);
  const anySolo = names.some((name) => stems[name]!.solo);
  return new Set(names.filter((name) => (!anySolo || stems[name]!.solo) && !stems[name]!.mute));
}

/** The linear gain a stem's GainNode gets: its fader, or 0 when it is not audible. */
export function effectiveStemGains(stems: Record<string, TrackState>): Record<string, number> {
  const audible = audibleStems(stems);
  const gains: Record<string, number> = {};
  for (const [name, track] of Object.entries(stems)) {
    gains[name] = audible.has(name) ? dbToGain(track.gainDb) : 0;
  }
  return gains;
}

export interface PanGains {
  /** Gain applied to the channel that stays on its side. */
  gL: number;
  gR: number;
}

/** StereoPannerNode's equal-power law for stereo input, as the Web Audio spec writes it. */
export function panGains(pan: number): PanGains {
  const p = clamp(pan, -1, 1);
  const x = p <= 0 ? p + 1 : p;
  return { gL: Math.cos((x * Math.PI) / 2), gR: Math.sin((x * Math.PI) / 2) };
}

/** One stereo frame through the panner (reference for tests and for the server's dsp). */
export function panStereoFrame(pan: number, inL: number, inR: number): [number, number] {
  const { gL, gR } = panGains(pan);
  if (pan <= 0) return [inL + inR * gL, inR * gR];
  return [inL * gL, inR + inL * gR];
}

// Fader law: position 0..1 -> dB in [MIN_DB, MAX_DB] on a square curve, so the top of the
// travel (where people mix) has the finest resolution. 0 dB sits at about 59 % of the travel.
const DB_SPAN = MAX_DB - MIN_DB;

export function faderPositionToDb(position: number): number {
  const p = clamp(position, 0, 1);
  return MAX_DB - DB_SPAN * (1 - p) ** 2;
}

export function dbToFaderPosition(db: number): number {
  const d = clamp(db, MIN_DB, MAX_DB);
  return 1 - Math.sqrt((MAX_DB - d) / DB_SPAN);
}

/** "m:ss" (or "h:mm:ss"), with tenths when asked. Negative and NaN read as 0. */
export function formatTime(seconds: number, tenths = false): string {
  const safe = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
  const totalTenths = Math.floor(safe * 10 + 1e-6);
  const whole = Math.floor(totalTenths / 10);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  const ss = String(s).padStart(2, "0");
  const base = h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  return tenths ? `${base}.${totalTenths % 10}` : base;
}

export function formatDb(db: number): string {
  if (!Number.isFinite(db)) return "-∞ dB";
  const rounded = Math.round(db * 10) / 10;
  const text = Number.isInteger(rounded) ? String(rounded) : rounded.toFixed(1);
  return `${rounded > 0 ? "+" : ""}${text === "-0" ? "0" : text} dB`;
}

export function formatPan(pan: number): string {
  const pct = Math.round(Math.abs(pan) * 100);
  if (pct === 0) return "centre";
  return `${pct}% ${pan < 0 ? "left" : "right"}`;
}

/**
 * Reduce peaks (max abs per bucket) to `width` columns, keeping the max of each group so
 * short transients stay visible. With fewer peaks than columns, columns repeat the nearest peak.
 */
export function downsamplePeaks(peaks: ArrayLike<number>, width: number): Float32Array {
  const columns = Math.max(0, Math.floor(width));
  const out = new Float32Array(columns);
  const n = peaks.length;
  if (n === 0 || columns === 0) return out;
  for (let c = 0; c < columns; c++) {
    const start = Math.floor((c * n) / columns);
    const end = Math.max(start + 1, Math.floor(((c + 1) * n) / columns));
    let max = 0;
    for (let i = start; i < end && i < n; i++) {
      const v = Math.abs(peaks[i]!);
      if (v > max) max = v;
    }
    out[c] = clamp(max, 0, 1);
  }
  return out;
}

/** Where playback is after `elapsed` seconds from `offset`, wrapping inside a loop region. */
export function playheadPosition(
  offset: number,
  elapsed: number,
  duration: number,
  loop: { start: number; end: number } | null,
): number {
  const pos = offset + Math.max(0, elapsed);
  if (loop && loop.end > loop.start && offset < loop.end && pos >= loop.end) {
    const len = loop.end - loop.start;
    return loop.start + ((pos - loop.start) % len);
  }
  return Math.min(pos, duration);
}

/** The body of POST /api/projects/{id}/exports for these settings (without format fields). */
export function toExportStems(settings: MixSettings): {
  stems: Record<string, { gain_db: number; mute: boolean; solo: boolean; pan: number }>;
  master_gain_db: number;
} {
  const stems: Record<string, { gain_db: number; mute: boolean; solo: boolean; pan: number }> = {};
  for (const [name, t] of Object.entries(settings.stems)) {
    stems[name] = { gain_db: t.gainDb, mute: t.mute, solo: t.solo, pan: t.pan };
  }
  return { stems, master_gain_db: settings.masterGainDb };
}

export function initialTracks(names: readonly string[]): Record<string, TrackState> {
  return Object.fromEntries(names.map((name) => [name, { ...DEFAULT_TRACK }]));
}

/** Max-abs peaks of decoded audio (all channels), for when the server's peaks are missing. */
export function peaksFromChannels(channels: readonly Float32Array[], buckets: number): Float32Array {
  const out = new Float32Array(Math.max(0, Math.floor(buckets)));
  const length = channels[0]?.length ?? 0;
  if (!length || !out.length) return out;
  for (let b = 0; b < out.length; b++) {
    const start = Math.floor((b * length) / out.length);
    const end = Math.max(start + 1, Math.floor(((b + 1) * length) / out.length));
    let max = 0;
    for (const ch of channels) {
      for (let i = start; i < end; i++) {
        const v = Math.abs(ch[i]!);
        if (v > max) max = v;
      }
    }
    out[b] = Math.min(1, max);
  }
  return out;
}

/** Snap near-0 dB fader values to exactly 0 dB and round to 0.1 dB. */
export function snapDb(db: number): number {
  if (Math.abs(db) < 0.4) return 0;
  return Math.round(db * 10) / 10;
}

/**
 * One display gain for all lanes: the loudest peak of the project fills the lane height, so
 * quiet songs stay visible while stems keep their levels relative to each other.
 */
export function peakDisplayScale(stems: Record<string, ArrayLike<number>>, floor = 0.01): number {
  let max = 0;
  for (const peaks of Object.values(stems)) {
    for (let i = 0; i < peaks.length; i++) if (peaks[i]! > max) max = peaks[i]!;
  }
  return 1 / Math.max(floor, Math.min(1, max));
}
