import { useEffect, useRef, useState, type PointerEvent } from "react";
import { downsamplePeaks } from "../../audio/mixmath";
import type { LoopRegion } from "../../audio/engine";
import { useAnimationFrame } from "../../lib/useAnimationFrame";

interface Props {
  peaks: ArrayLike<number> | null;
  /** Display gain shared by all lanes (see peakDisplayScale). */
  scale: number;
  color: string;
  duration: number;
  currentTime: () => number;
  loop: LoopRegion | null;
  loopEnabled: boolean;
  onSeek: (seconds: number) => void;
  onSelectLoop: (region: LoopRegion) => void;
  /** While the song is separating: seconds from the start that can play (shown lit). */
  ready?: (() => number) | null;
}

const DRAG_THRESHOLD_PX = 4;

/** The part of a separating song that can play: lit in the stem's colour, up to a line. */
const READY_STYLE = {
  position: "absolute",
  top: 0,
  bottom: 0,
  left: 0,
  width: 0,
  background: "color-mix(in srgb, var(--stem-color, #4f9cf9) 22%, transparent)",
  borderRight: "2px solid var(--stem-color, #4f9cf9)",
  pointerEvents: "none",
} as const;

/** A pointer drag over the canvas, with the canvas's place when it began. */
interface Drag {
  x0: number;
  x1: number;
  left: number;
  width: number;
}

/**
 * The stem's waveform on a canvas. Click seeks; drag selects a loop region. Pointer-only: the
 * transport's position slider and loop buttons do the same from the keyboard.
 */
export function Waveform({ peaks, scale, color, duration, currentTime, loop, loopEnabled, onSeek, onSelectLoop, ready = null }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const playhead = useRef<HTMLDivElement>(null);
  const readyRegion = useRef<HTMLDivElement>(null);
  const [drag, setDrag] = useState<Drag | null>(null);
  const [width, setWidth] = useState(0);

  useEffect(() => {
    const el = canvas.current;
    if (!el) return;
    const observer = new ResizeObserver(([entry]) => setWidth(Math.floor(entry!.contentRect.width)));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    const el = canvas.current;
    if (!el || width === 0) return;
    const dpr = window.devicePixelRatio || 1;
    const height = el.clientHeight;
    el.width = Math.floor(width * dpr);
    el.height = Math.floor(height * dpr);
    const g = el.getContext("2d");
    if (!g) return;
    g.clearRect(0, 0, el.width, el.height);
    if (!peaks) return;
    const columns = downsamplePeaks(peaks, el.width);
    const mid = el.height / 2;
    g.fillStyle = color;
    for (let x = 0; x < columns.length; x++) {
      const h = Math.max(1, Math.min(1, columns[x]! * scale) * mid);
      g.fillRect(x, mid - h, 1, h * 2);
    }
  }, [peaks, scale, color, width]);

  useAnimationFrame(() => {
    if (playhead.current && duration > 0) {
      playhead.current.style.left = `${(currentTime() / duration) * 100}%`;
    }
    if (readyRegion.current && ready && duration > 0) {
      readyRegion.current.style.width = `${Math.min(1, ready() / duration) * 100}%`;
    }
  });

  // Render reads no ref: the canvas's place is measured when the drag begins.
  const timeAt = (clientX: number, { left, width }: Drag) => Math.max(0, Math.min(1, (clientX - left) / width)) * duration;

  const onPointerDown = (e: PointerEvent) => {
    if (e.button !== 0 || !canvas.current) return;
    e.currentTarget.setPointerCapture(e.pointerId);
    const { left, width } = canvas.current.getBoundingClientRect();
    setDrag({ x0: e.clientX, x1: e.clientX, left, width });
  };
  const onPointerMove = (e: PointerEvent) => {
    if (drag) setDrag({ ...drag, x1: e.clientX });
  };
  const onPointerUp = (e: PointerEvent) => {
    if (!drag) return;
    const moved = Math.abs(e.clientX - drag.x0) > DRAG_THRESHOLD_PX;
    setDrag(null);
    if (moved) {
      const [a, b] = [timeAt(drag.x0, drag), timeAt(e.clientX, drag)].sort((x, y) => x - y) as [number, number];
      onSelectLoop({ start: a, end: b });
    } else {
      onSeek(timeAt(e.clientX, drag));
    }
  };

  const pct = (t: number) => `${(t / Math.max(duration, 1e-9)) * 100}%`;
  let region: { left: string; width: string } | null = null;
  if (drag && Math.abs(drag.x1 - drag.x0) > DRAG_THRESHOLD_PX) {
    const [a, b] = [timeAt(drag.x0, drag), timeAt(drag.x1, drag)].sort((x, y) => x - y) as [number, number];
    region = { left: pct(a), width: pct(b - a) };
  } else if (loop) {
    region = { left: pct(loop.start), width: pct(loop.end - loop.start) };
  }

  return (
    <div
      className="waveform"
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={onPointerUp}
      onPointerCancel={() => setDrag(null)}
      aria-hidden="true"
    >
      <canvas ref={canvas} />
      {ready && <div className="ready-region" ref={readyRegion} style={READY_STYLE} data-testid="ready-region" />}
      {region && <div className={`loop-region${loopEnabled || drag ? " loop-on" : ""}`} style={region} />}
      <div className="playhead" ref={playhead} />
    </div>
  );
}
