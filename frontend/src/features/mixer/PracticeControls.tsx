// Tempo, pitch, the click track and the count-in. The values live in the mix (mixState.ts, with
// undo and named mixes; usePractice pushes them into the engine); this component shows and
// changes them, shows the resulting BPM and key from the project's analysis, and gives the
// engine the beat grid its click and count-in follow.
import { useEffect, useMemo } from "react";
import { MixerEngine } from "../../audio/engine";
import { formatSemitones, formatTempo, MAX_COUNT_IN_BARS, MAX_PITCH, MAX_TEMPO, MIN_PITCH, MIN_TEMPO, transposeKey } from "../../audio/practice";
import type { MixerPlayer } from "../../audio/streaming";
import type { Project } from "../../lib/types";
import type { MixState } from "./mixState";
import { PanSlider } from "./PanSlider";
import type { MixUpdate } from "./useMixHistory";
import { VolumeFader } from "./VolumeFader";

interface Props {
  project: Project;
  engine: MixerPlayer;
  mix: MixState;
  setMix: (update: MixUpdate, key?: string) => void;
}

export interface SongAnalysis {
  bpm: number | null;
  key: string | null;
  beats: number[];
  downbeats: number[];
}

/** The project's `analysis` (null or partial on older servers), read defensively. */
export function songAnalysis(project: Project): SongAnalysis | null {
  const a = (project as { analysis?: unknown }).analysis;
  if (!a || typeof a !== "object") return null;
  const { bpm, key, beats, downbeats } = a as Record<string, unknown>;
  const times = (v: unknown) => (Array.isArray(v) ? v.filter((t): t is number => typeof t === "number" && Number.isFinite(t)).sort((x, y) => x - y) : []);
  return {
    bpm: typeof bpm === "number" && bpm > 0 ? bpm : null,
    key: typeof key === "string" && key ? key : null,
    beats: times(beats),
    downbeats: times(downbeats),
  };
}

const TEMPO_STEP = 5; // %

export function PracticeControls({ project, engine, mix, setMix }: Props) {
  const analysis = useMemo(() => songAnalysis(project), [project]);
  const full = engine instanceof MixerEngine ? engine : null;
  const canStretch = full?.canStretch ?? false;
  const hasBeats = analysis !== null && analysis.bpm !== null && analysis.beats.length > 1;

  useEffect(() => {
    if (!full) return;
    full.setBeatGrid(hasBeats ? { bpm: analysis.bpm!, beats: analysis.beats, downbeats: analysis.downbeats } : null);
  }, [full, analysis, hasBeats]);

  const bpm = analysis?.bpm ? Math.round(analysis.bpm * mix.tempo * 10) / 10 : null;
  const key = analysis?.key ? transposeKey(analysis.key, mix.pitchSemitones) : null;
  const tempoText = `${formatTempo(mix.tempo)}${bpm !== null ? `, ${bpm} BPM` : ""}`;
  const pitchText = `${formatSemitones(mix.pitchSemitones).replace("st", mix.pitchSemitones === 1 || mix.pitchSemitones === -1 ? "semitone" : "semitones")}${key ? `, ${key}` : ""}`;
  const stretchOff = canStretch ? null : "Tempo and pitch are available once the separation is done";
  const clickOff = hasBeats ? null : "The click and the count-in need the song's beats (its analysis)";

  return (
    <div className="practice-controls" role="group" aria-label="Tempo, pitch and click" data-testid="practice-controls">
      <label className="practice-slider" title={stretchOff ?? "Tempo without a change of pitch"}>
        <span>Tempo</span>
        <input
          type="range"
          className="slider"
          min={MIN_TEMPO * 100}
          max={MAX_TEMPO * 100}
          step={TEMPO_STEP}
          value={Math.round(mix.tempo * 100)}
          disabled={!canStretch}
          aria-label="Tempo"
          aria-valuetext={tempoText}
          data-testid="tempo"
          onChange={(e) => setMix((m) => ({ ...m, tempo: Number(e.target.value) / 100 }), "tempo")}
          onDoubleClick={() => setMix((m) => ({ ...m, tempo: 1 }))}
        />
        <output aria-hidden="true" data-testid="tempo-value">
          {tempoText}
        </output>
      </label>
      <label className="practice-slider" title={stretchOff ?? "Pitch without a change of tempo"}>
        <span>Pitch</span>
        <input
          type="range"
          className="slider"
          min={MIN_PITCH}
          max={MAX_PITCH}
          step={1}
          value={mix.pitchSemitones}
          disabled={!canStretch}
          aria-label="Pitch"
          aria-valuetext={pitchText}
          data-testid="pitch"
          onChange={(e) => setMix((m) => ({ ...m, pitchSemitones: Number(e.target.value) }), "pitch")}
          onDoubleClick={() => setMix((m) => ({ ...m, pitchSemitones: 0 }))}
        />
        <output aria-hidden="true" data-testid="pitch-value">
          {pitchText}
        </output>
      </label>
      <div className="practice-click" role="group" aria-label="Click track">
        <button
          type="button"
          className="toggle"
          aria-pressed={!mix.click.mute}
          disabled={!hasBeats || !full}
          title={clickOff ?? "A click on every beat, the first of each bar accented"}
          onClick={() => setMix((m) => ({ ...m, click: { ...m.click, mute: !m.click.mute } }))}
          data-testid="click-toggle"
        >
          Click
        </button>
        <VolumeFader label="Click volume" caption="Vol" db={mix.click.gainDb} onChange={(gainDb) => setMix((m) => ({ ...m, click: { ...m.click, gainDb } }), "click-gain")} />
        <PanSlider label="Click pan" caption="Pan" pan={mix.click.pan} onChange={(pan) => setMix((m) => ({ ...m, click: { ...m.click, pan } }), "click-pan")} />
        <label title={clickOff ?? "Clicks before playback starts and before each loop pass"}>
          <span>Count-in</span>{" "}
          <select
            value={mix.countInBars}
            disabled={!hasBeats || !full}
            onChange={(e) => setMix((m) => ({ ...m, countInBars: Number(e.target.value) }))}
            data-testid="count-in"
          >
            {Array.from({ length: MAX_COUNT_IN_BARS + 1 }, (_, bars) => (
              <option key={bars} value={bars}>
                {bars === 0 ? "None" : `${bars} bar${bars > 1 ? "s" : ""}`}
              </option>
            ))}
          </select>
        </label>
      </div>
      {(mix.tempo !== 1 || mix.pitchSemitones !== 0) && (
        <button type="button" className="link-button" onClick={() => setMix((m) => ({ ...m, tempo: 1, pitchSemitones: 0 }))}>
          Original tempo and pitch
        </button>
      )}
      {(stretchOff || clickOff) && (
        <p className="muted small">{[stretchOff, clickOff].filter(Boolean).join(". ")}.</p>
      )}
    </div>
  );
}
