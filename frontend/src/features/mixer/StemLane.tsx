import type { CSSProperties } from "react";
import type { LoopRegion, MixerEngine } from "../../audio/engine";
import type { TrackState } from "../../audio/mixmath";
import { stemLabel } from "../../lib/stemNames";
import type { StemInfo } from "../../lib/types";
import { LevelMeter } from "./LevelMeter";
import { PanSlider } from "./PanSlider";
import { VolumeFader } from "./VolumeFader";
import { Waveform } from "./Waveform";

interface Props {
  stem: StemInfo;
  track: TrackState;
  audible: boolean;
  engine: MixerEngine;
  peaks: ArrayLike<number> | null;
  peakScale: number;
  loop: LoopRegion | null;
  loopEnabled: boolean;
  onChange: (patch: Partial<TrackState>) => void;
  onSelectLoop: (region: LoopRegion) => void;
}

/**
 * One stem: name (in words, from its id) and colour from the API, waveform, fader, mute, solo,
 * pan, meter, download. The id stays the key (`data-stem`); people see and hear the words.
 */
export function StemLane({ stem, track, audible, engine, peaks, peakScale, loop, loopEnabled, onChange, onSelectLoop }: Props) {
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
          <a className="button icon" href={stem.url} download aria-label={`Download ${name} (FLAC)`} title={`Download ${name} (FLAC)`}>
            ↓
          </a>
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
      />
      <div className="lane-controls">
        <VolumeFader label={`${name} volume`} caption="Vol" db={track.gainDb} onChange={(gainDb) => onChange({ gainDb })} />
        <PanSlider label={`${name} pan`} caption="Pan" pan={track.pan} onChange={(pan) => onChange({ pan })} />
        <LevelMeter read={() => engine.level(id)} active />
      </div>
    </div>
  );
}
