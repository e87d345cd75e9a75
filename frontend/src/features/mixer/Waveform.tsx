import { useEffect, useRef, useState, type PointerEvent } from "react";
import { downsamplePeaks } from "../../audio/mixmath";
import type { LoopRegion } from "../../audio/engine";
import { useAnimationFrame } from "../../lib/useAnimationFrame";
import { fractionOf, fullView, peakRange, ZOOM_STEP, type WaveView } from "./waveView";

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
  /** The part of the song shown (zoom and scroll; waveView.ts); the whole song without it. */
  view?: WaveView;
  /** Ctrl+wheel or a pinch: zoom by `factor` around `anchor` seconds. */
  onZoom?: (factor: number, anchor: number) => void;
  /** A sideways wheel (or Shift+wheel): scroll by this many seconds. */
  onScroll?: (seconds: number) => void;
  /** Section starts, drawn as lines. */
  markers?: readonly number[];
}

/** The zoom and scroll props, passed on by the stem lanes. */
export type WaveViewProps = Pick<Props, "view" | "onZoom" | "onScroll" | "markers">;

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
export function Waveform({ peaks, scale, color, duration, currentTime, loop, loopEnabled, onSeek, onSelectLoop, ready = null, view: shownView, onZoom, onScroll, markers }: Props) {
  const view = shownView ?? fullView(duration);
  const { start: viewStart, span: viewSpan } = view;
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
    const [from, to] = peakRange({ start: viewStart, span: viewSpan }, duration, peaks.length);
    const columns = downsamplePeaks(Array.from({ length: to - from }, (_, i) => peaks[from + i]!), el.width);
    const mid = el.height / 2;
    g.fillStyle = color;
    for (let x = 0; x < columns.length; x++) {
      const h = Math.max(1, Math.min(1, columns[x]! * scale) * mid);
      g.fillRect(x, mid - h, 1, h * 2);
    }
  }, [peaks, scale, color, width, viewStart, viewSpan, duration]);

  // Wheel zoom and scroll need a listener that may cancel the page's scroll (React's is passive).
  const wheel = useRef({ onZoom, onScroll, viewStart, viewSpan });
  useEffect(() => {
    wheel.current = { onZoom, onScroll, viewStart, viewSpan };
  });
  useEffect(() => {
    const el = canvas.current?.parentElement;
    if (!el) return;
    const onWheel = (e: WheelEvent) => {
      const { onZoom, onScroll, viewStart, viewSpan } = wheel.current;
      const rect = el.getBoundingClientRect();
      if ((e.ctrlKey || e.metaKey) && onZoom) {
        e.preventDefault();
        const anchor = viewStart + Math.max(0, Math.min(1, (e.clientX - rect.left) / Math.max(rect.width, 1))) * viewSpan;
        // A pinch sends small deltas with Ctrl: zoom in proportion; a wheel notch is one step.
        const factor = Math.abs(e.deltaY) < 10 ? Math.exp(-e.deltaY / 100) : e.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP;
        onZoom(factor, anchor);
      } else if (onScroll && viewSpan < duration) {
        const dx = e.shiftKey && e.deltaX === 0 ? e.deltaY : e.deltaX;
        if (dx === 0) return; // an up/down wheel scrolls the page
        e.preventDefault();
        onScroll((dx / Math.max(rect.width, 1)) * viewSpan);
      }
    };
    el.addEventListener("wheel", onWheel, { passive: false });
    return () => el.removeEventListener("wheel", onWheel);
  }, [duration]);

  useAnimationFrame(() => {
    if (playhead.current && duration > 0) {
      const f = fractionOf(view, currentTime());
      playhead.current.style.left = `${f * 100}%`;
      playhead.current.style.visibility = f < 0 || f > 1 ? "hidden" : "";
    }
    if (readyRegion.current && ready && duration > 0) {
      readyRegion.current.style.width = `${Math.max(0, Math.min(1, fractionOf(view, ready()))) * 100}%`;
    }
  });

  // Render reads no ref: the canvas's place is measured when the drag begins.
  const timeAt = (clientX: number, { left, width }: Drag) => viewStart + Math.max(0, Math.min(1, (clientX - left) / width)) * viewSpan;

  // Two fingers on a touch screen pinch: the horizontal distance between them zooms.
  const touches = useRef(new Map<number, number>());
  const pinchWidth = useRef(0);
  const pinch = (e: PointerEvent): boolean => {
    if (!touches.current.has(e.pointerId)) return false;
    touches.current.set(e.pointerId, e.clientX);
    if (touches.current.size !== 2 || !onZoom || !canvas.current) return touches.current.size > 1;
    const [a, b] = [...touches.current.values()] as [number, number];
    const width = Math.max(20, Math.abs(a - b));
    if (pinchWidth.current > 0) {
      const { left, width: w } = canvas.current.getBoundingClientRect();
      const anchor = viewStart + Math.max(0, Math.min(1, ((a + b) / 2 - left) / Math.max(w, 1))) * viewSpan;
      onZoom(width / pinchWidth.current, anchor);
    }
    pinchWidth.current = width;
    return true;
  };
  const endTouch = (e: PointerEvent): boolean => {
    const pinching = touches.current.size > 1;
    touches.current.delete(e.pointerId);
    if (touches.current.size < 2) pinchWidth.current = 0;
    return pinching || touches.current.size > 0;
  };

  const onPointerDown = (e: PointerEvent) => {
    if (e.pointerType === "touch") {
      touches.current.set(e.pointerId, e.clientX);
      if (touches.current.size > 1) {
        setDrag(null); // a second finger: a pinch, not a loop selection
        const [a, b] = [...touches.current.values()] as [number, number];
        pinchWidth.current = touches.current.size === 2 ? Math.max(20, Math.abs(a - b)) : 0;
        return;
      }
    }
    if (e.button !== 0 || !canvas.current) return;
    e.currentTarget.setPointerCapture(e.pointerId);
    const { left, width } = canvas.current.getBoundingClientRect();
    setDrag({ x0: e.clientX, x1: e.clientX, left, width });
  };
  const onPointerMove = (e: PointerEvent) => {
    if (pinch(e)) return;
    if (drag) setDrag({ ...drag, x1: e.clientX });
  };
  const onPointerUp = (e: PointerEvent) => {
    if (e.pointerType === "touch" && endTouch(e)) return;
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

  const pct = (t: number) => `${(t / Math.max(viewSpan, 1e-9)) * 100}%`;
  const at = (t: number) => pct(t - viewStart);
  let region: { left: string; width: string } | null = null;
  if (drag && Math.abs(drag.x1 - drag.x0) > DRAG_THRESHOLD_PX) {
    const [a, b] = [timeAt(drag.x0, drag), timeAt(drag.x1, drag)].sort((x, y) => x - y) as [number, number];
    region = { left: at(a), width: pct(b - a) };
  } else if (loop) {
    region = { left: at(loop.start), width: pct(loop.end - loop.start) };
  }

  return (
    <div
      className="waveform"
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={onPointerUp}
      onPointerCancel={(e) => {
        endTouch(e);
        setDrag(null);
      }}
      aria-hidden="true"
    >
      <canvas ref={canvas} />
      {ready && <div className="ready-region" ref={readyRegion} style={READY_STYLE} data-testid="ready-region" />}
      {region && <div className={`loop-region${loopEnabled || drag ? " loop-on" : ""}`} style={region} />}
      {markers
        ?.filter((t) => t >= viewStart && t <= viewStart + viewSpan)
        .map((t) => <div key={t} className="section-marker" style={{ left: at(t) }} />)}
      <div className="playhead" ref={playhead} />
    </div>
  );
}
