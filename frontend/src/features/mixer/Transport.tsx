import { useRef } from "react";
import type { LoopRegion } from "../../audio/engine";
import { StreamingEngine, type MixerPlayer } from "../../audio/streaming";
import { formatTime } from "../../audio/mixmath";
import { useAnimationFrame } from "../../lib/useAnimationFrame";
import { LevelMeter } from "./LevelMeter";
import { VolumeFader } from "./VolumeFader";

interface Props {
  engine: MixerPlayer;
  playing: boolean;
  loop: LoopRegion | null;
  loopEnabled: boolean;
  masterGainDb: number;
  onMasterGain: (db: number) => void;
  onLoopEnabled: (enabled: boolean) => void;
  onLoopRegion: (region: LoopRegion | null) => void;
}

/** Play/pause, position (also a keyboard seek slider), loop, master volume and meter. */
export function Transport({ engine, playing, loop, loopEnabled, masterGainDb, onMasterGain, onLoopEnabled, onLoopRegion }: Props) {
  const time = useRef<HTMLSpanElement>(null);
  const seek = useRef<HTMLInputElement>(null);
  const duration = engine.duration;
  const total = formatTime(duration);
  const lastText = useRef("");
  // While the song separates: loops wait for the whole song, and the position says what is ready.
  const streaming = engine instanceof StreamingEngine ? engine : null;
  const loopsOff = streaming ? "Loops are available once the separation is done" : null;

  // Update time text and slider imperatively, so the mixer does not re-render every frame.
  useAnimationFrame(() => {
    const now = engine.currentTime;
    const text = formatTime(now);
    const readyText = streaming ? `, ${formatTime(streaming.available)} ready` : "";
    if (text + readyText === lastText.current) return;
    lastText.current = text + readyText;
    if (time.current) time.current.textContent = text;
    if (seek.current && document.activeElement !== seek.current) {
      seek.current.value = String(Math.round(now * 10));
      seek.current.setAttribute("aria-valuetext", `${text} of ${total}${readyText}`);
    }
  });

  const setIn = () => {
    const t = engine.currentTime;
    const end = loop && loop.end > t ? loop.end : Math.min(duration, t + 8);
    onLoopRegion({ start: t, end });
  };
  const setOut = () => {
    const t = engine.currentTime;
    const start = loop && loop.start < t ? loop.start : Math.max(0, t - 8);
    onLoopRegion({ start, end: t });
  };

  return (
    <div className="transport" role="group" aria-label="Transport">
      <button
        type="button"
        className="primary play"
        onClick={() => void engine.toggle()}
        aria-label={playing ? "Pause" : "Play"}
        data-testid="play"
        title="Play/pause (Space)"
      >
        {playing ? "❚❚" : "▶"}
      </button>
      <span className="time" aria-hidden="true">
        <span ref={time}>0:00</span> / {total}
      </span>
      <label className="seek">
        <span className="visually-hidden">Position</span>
        <input
          ref={seek}
          type="range"
          min={0}
          max={Math.round(duration * 10)}
          step={10}
          defaultValue={0}
          aria-valuetext={`0:00 of ${total}`}
          onChange={(e) => engine.seek(Number(e.target.value) / 10)}
        />
      </label>
      <div className="loop-controls">
        <button
          type="button"
          className="toggle"
          aria-pressed={loopEnabled}
          disabled={!loop || loopsOff !== null}
          onClick={() => onLoopEnabled(!loopEnabled)}
          title={loopsOff ?? (loop ? `Loop ${formatTime(loop.start)}–${formatTime(loop.end)}` : "Drag across a waveform to choose a loop")}
        >
          Loop{loop ? ` ${formatTime(loop.start)}–${formatTime(loop.end)}` : ""}
        </button>
        <button type="button" onClick={setIn} disabled={loopsOff !== null} title={loopsOff ?? "Set the loop start at the current position"}>
          Loop in
        </button>
        <button type="button" onClick={setOut} disabled={loopsOff !== null} title={loopsOff ?? "Set the loop end at the current position"}>
          Loop out
        </button>
        {loop && (
          <button type="button" className="link-button" onClick={() => onLoopRegion(null)}>
            Clear loop
          </button>
        )}
      </div>
      <div className="master">
        <span className="master-label">Master</span>
        <VolumeFader label="Master volume" db={masterGainDb} onChange={onMasterGain} />
        <LevelMeter read={() => engine.level()} active />
      </div>
    </div>
  );
}
