import { formatTime } from "../../audio/mixmath";
import { MAX_ZOOM, zoomLevel, type WaveView } from "./waveView";

interface Props {
  canUndo: boolean;
  canRedo: boolean;
  onUndo: () => void;
  onRedo: () => void;
  duration: number;
  view: WaveView;
  onZoom: (factor: number) => void;
  onScrollTo: (start: number) => void;
  follow: boolean;
  onFollow: (follow: boolean) => void;
  snap: boolean;
  onSnap: (snap: boolean) => void;
  /** Whether the song has a beat grid to snap to. */
  hasBeats: boolean;
}

/** Undo and redo, and the waveforms' view: zoom, scroll, following the playhead, beat snapping. */
export function PracticeBar({ canUndo, canRedo, onUndo, onRedo, duration, view, onZoom, onScrollTo, follow, onFollow, snap, onSnap, hasBeats }: Props) {
  const zoom = zoomLevel(view, duration);
  const zoomed = zoom > 1.001;
  const shown = `Showing ${formatTime(view.start)} to ${formatTime(view.start + view.span)} of ${formatTime(duration)}`;
  return (
    <div className="practice-bar">
      <div className="history-buttons" role="group" aria-label="History">
        <button type="button" onClick={onUndo} disabled={!canUndo} title="Undo the last mix move (Ctrl+Z)" aria-keyshortcuts="Control+Z Meta+Z" data-testid="undo">
          Undo
        </button>
        <button type="button" onClick={onRedo} disabled={!canRedo} title="Redo (Ctrl+Shift+Z or Ctrl+Y)" aria-keyshortcuts="Control+Shift+Z Meta+Shift+Z Control+Y" data-testid="redo">
          Redo
        </button>
      </div>
      <div className="wave-view" role="group" aria-label="Waveform view">
        <button type="button" className="icon" onClick={() => onZoom(1 / 1.5)} disabled={!zoomed} aria-label="Zoom out" title="Zoom out (−)" aria-keyshortcuts="-">
          −
        </button>
        <span className="zoom-level" data-testid="zoom-level">
          {zoom < 9.95 ? zoom.toFixed(1) : Math.round(zoom)}×
        </span>
        <button type="button" className="icon" onClick={() => onZoom(1.5)} disabled={zoom >= MAX_ZOOM - 1e-6} aria-label="Zoom in" title="Zoom in (+)" aria-keyshortcuts="+">
          +
        </button>
        <label className="wave-scroll">
          <span className="visually-hidden">Waveform scroll</span>
          <input
            type="range"
            min={0}
            max={Math.max(0, Math.round((duration - view.span) * 10))}
            step={1}
            value={Math.round(view.start * 10)}
            disabled={!zoomed}
            aria-valuetext={shown}
            onChange={(e) => onScrollTo(Number(e.target.value) / 10)}
          />
        </label>
        <button type="button" className="toggle" aria-pressed={follow} onClick={() => onFollow(!follow)} title="Keep the playhead in view while playing (F)" aria-keyshortcuts="F">
          Follow
        </button>
        <button
          type="button"
          className="toggle"
          aria-pressed={hasBeats && snap}
          disabled={!hasBeats}
          onClick={() => onSnap(!snap)}
          title={hasBeats ? "Snap loop points to the nearest beat" : "Snapping needs the song's beat grid (analysis)"}
        >
          Snap to beats
        </button>
      </div>
    </div>
  );
}
