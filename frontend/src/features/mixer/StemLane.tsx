import type { CSSProperties } from "react";
import type { LoopRegion } from "../../audio/engine";
import { StreamingEngine, type MixerPlayer } from "../../audio/streaming";
import type { TrackState } from "../../audio/mixmath";
import { stemLabel } from "../../lib/stemNames";
import { DownloadLink } from "../../components/DownloadLink";
import { api } from "../../lib/api";
import { LOSSLESS_LOCKED } from "../../lib/plans";
import type { Project, StemInfo } from "../../lib/types";
import { LevelMeter } from "./LevelMeter";
import { PanSlider } from "./PanSlider";
import { VolumeFader } from "./VolumeFader";
import { Waveform, type WaveViewProps } from "./Waveform";

interface Props {
  stem: StemInfo;
  /** The body the stem's links came in (an old one is asked for again before a download). */
  project: Project;
  track: TrackState;
  audible: boolean;
  engine: MixerPlayer;
  peaks: ArrayLike<number> | null;
  peakScale: number;
  loop: LoopRegion | null;
  loopEnabled: boolean;
  onChange: (patch: Partial<TrackState>) => void;
  onSelectLoop: (region: LoopRegion) => void;
  /** The waveforms' shared zoom and scroll, and the section markers. */
  viewProps?: WaveViewProps;
}

/**
 * One stem: name (in words, from its id) and colour from the API, waveform, fader, mute, solo,
 * pan, meter, download. The id stays the key (`data-stem`); people see and hear the words.
 */
export function StemLane({ stem, project, track, audible, engine, peaks, peakScale, loop, loopEnabled, onChange, onSelectLoop, viewProps }: Props) {
  const id = stem.name;
  const name = stemLabel(id);
  return (
    <div
      className={`lane${audible ? "" : " lane-silent"}`}
      role="group"
      aria-label={`${name} stem`}
      data-stem={id}
      data-testid={`lane-${id}`}
      tabIndex={0}
      style={{ "--stem-color": stem.color } as CSSProperties}
    >
      <div className="lane-head">
        <div className="lane-title">
          <span className="lane-swatch" aria-hidden="true" />
          <span className="lane-name" title={name}>
            {name}
          </span>
        </div>
        <div className="lane-buttons">
          <button
            type="button"
            className="toggle toggle-mute"
            aria-pressed={track.mute}
            aria-label={`Mute ${name}`}
            title={`Mute ${name} (M)`}
            onClick={() => onChange({ mute: !track.mute })}
          >
            M
          </button>
          <button
            type="button"
            className="toggle toggle-solo"
            aria-pressed={track.solo}
            aria-label={`Solo ${name}`}
            title={`Solo ${name} (S)`}
            onClick={() => onChange({ solo: !track.solo })}
          >
            S
          </button>
          {project.status !== "ready" ? null : stem.url ? (
            <DownloadLink
              className="button icon"
              href={stem.url}
              body={project}
              refetch={() => api.project(project.id).then((p) => p.stems.find((s) => s.name === id)?.url ?? null)}
              download
              aria-label={`Download ${name} (FLAC)`}
              title={`Download ${name} (FLAC)`}
            >
              ↓
            </DownloadLink>
          ) : (
            // The plan has no lossless masters: shown, locked, with the reason.
            <button type="button" className="icon locked" aria-disabled="true" aria-label={`Download ${name} (FLAC): ${LOSSLESS_LOCKED}`} title={LOSSLESS_LOCKED} data-testid="stem-download-locked">
              <span aria-hidden="true">🔒</span>
            </button>
          )}
        </div>
      </div>
      <Waveform
        peaks={peaks}
        scale={peakScale}
        color={stem.color}
        duration={engine.duration}
        currentTime={() => engine.currentTime}
        loop={loop}
        loopEnabled={loopEnabled}
        onSeek={(t) => engine.seek(t)}
        onSelectLoop={onSelectLoop}
        ready={engine instanceof StreamingEngine ? () => engine.available : null}
        {...viewProps}
      />
      <div className="lane-controls">
        <VolumeFader label={`${name} volume`} caption="Vol" db={track.gainDb} onChange={(gainDb) => onChange({ gainDb })} />
        <PanSlider label={`${name} pan`} caption="Pan" pan={track.pan} onChange={(pan) => onChange({ pan })} />
        <LevelMeter read={() => engine.level(id)} active />
      </div>
    </div>
  );
}
