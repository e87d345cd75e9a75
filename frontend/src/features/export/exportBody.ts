import { toExportStems, type MixSettings } from "../../audio/mixmath";
import type { ExportRequest } from "../../lib/types";

export type Format = ExportRequest["format"];

/** A stretch of the song: a loop, or a section up to the next one (end null: to the end). */
export interface TimeRange {
  start: number;
  end: number | null;
}

/** The practice options of an export; every one left out is the server's default. */
export interface PracticeOptions {
  /** Playback speed, 0.5–1.5 (1: as recorded). */
  tempo?: number;
  /** Transposition, −12…+12 semitones. */
  pitchSemitones?: number;
  /** Only this stretch of the song; null: the whole song. */
  range?: TimeRange | null;
  /** Only these stems; null or every stem: all of them. */
  includeStems?: string[] | null;
  /** Integrated loudness target in LUFS (true peak at most −1 dBTP); null: as mixed. */
  loudnessLufs?: number | null;
  /** The download's name without extension (the server makes it safe); "": the default. */
  filename?: string;
}

/** The POST /exports body: the mix as the API names it, plus only the fields the format uses. */
export function exportBody(mix: MixSettings, format: Format, bitrate: number, bitDepth: 16 | 24, options: PracticeOptions = {}): ExportRequest {
  const names = Object.keys(mix.stems);
  const include = options.includeStems ?? null;
  const everyStem = include === null || names.every((name) => include.includes(name));
  const range = options.range ?? null;
  const filename = options.filename?.trim() ?? "";
  return {
    ...toExportStems(mix),
    format,
    bitrate: format === "mp3" ? bitrate : null,
    bit_depth: format === "wav" ? bitDepth : null,
    tempo: options.tempo ?? 1,
    pitch_semitones: options.pitchSemitones ?? 0,
    start_seconds: range && range.start > 0 ? range.start : null,
    end_seconds: range?.end ?? null,
    include_stems: everyStem ? null : names.filter((name) => include.includes(name)),
    loudness_lufs: options.loudnessLufs ?? null,
    filename: filename === "" ? null : filename,
  };
}

/** The range of the section starting at `start`: up to the next section's start, or the end. */
export function sectionRange(sections: readonly { start: number }[], start: number): TimeRange {
  const next = sections.map((s) => s.start).filter((s) => s > start).sort((a, b) => a - b)[0];
  return { start, end: next ?? null };
}
