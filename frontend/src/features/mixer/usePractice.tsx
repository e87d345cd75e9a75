// The practice side of the mixer: the mix with undo (useMixHistory), the loop and the practice
// settings pushed into the engine, sections, the waveforms' zoom and scroll, following the
// playhead and snapping loops to beats. Mixer.tsx renders what this returns.
import { useCallback, useEffect, useMemo, useState, type ReactElement } from "react";
import type { LoopRegion } from "../../audio/engine";
import type { MixerPlayer } from "../../audio/streaming";
import { useAnimationFrame } from "../../lib/useAnimationFrame";
import type { Project } from "../../lib/types";
import { beatGrid } from "./beatGrid";
import { applyPractice, type MixState } from "./mixState";
import { PracticeBar } from "./PracticeBar";
import { addSection, nextSectionStart, previousSectionStart, sectionAt, sectionLoop } from "./sections";
import { SectionsPanel } from "./SectionsPanel";
import { useMixHistory, type MixUpdate } from "./useMixHistory";
import type { PracticeKeyActions } from "./usePracticeKeys";
import type { WaveViewProps } from "./Waveform";
import { clampView, followView, fullView, scrollBy, snapLoop, zoomAt, zoomLevel, ZOOM_STEP, type WaveView } from "./waveView";

export interface Practice {
  mix: MixState;
  setMix: (update: MixUpdate, key?: string) => void;
  replace: (mix: MixState) => void;
  /** A loop chosen on a waveform or with Loop in/out (snapped to beats when asked); null clears. */
  selectLoop: (region: LoopRegion | null) => void;
  keys: PracticeKeyActions;
  waveProps: WaveViewProps;
  bar: ReactElement;
  sections: ReactElement;
}

const sameLoop = (a: LoopRegion | null, b: LoopRegion | null) =>
  a !== null && b !== null && Math.abs(a.start - b.start) < 1e-3 && Math.abs(a.end - b.end) < 1e-3;

export function usePractice(project: Project, engine: MixerPlayer, initial: () => MixState): Practice {
  const history = useMixHistory(initial);
  const { mix, setMix } = history;
  const duration = engine.duration;
  const grid = useMemo(() => beatGrid(project), [project]);
  const [follow, setFollow] = useState(true);
  const [snap, setSnap] = useState(true);
  // null: the whole song (whatever its length turns out to be once loaded).
  const [zoomed, setZoomed] = useState<WaveView | null>(null);
  const view = zoomed ? clampView(zoomed, duration) : fullView(duration);

  // The loop is part of the mix (undo brings it back): the engine follows it.
  useEffect(() => {
    engine.setLoopRegion(mix.loop);
    engine.setLoopEnabled(mix.loopEnabled);
  }, [engine, mix.loop, mix.loopEnabled]);
  useEffect(() => {
    applyPractice(engine, mix);
    // The practice fields only: the stems and master go through engine.setMix in Mixer.
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the fields listed are what applyPractice reads
  }, [engine, mix.tempo, mix.pitchSemitones, mix.click, mix.countInBars]);

  const selectLoop = useCallback(
    (region: LoopRegion | null) => {
      const loop = region && snap && grid.beats.length > 1 ? snapLoop(region, grid.beats) : region;
      setMix((m) => ({ ...m, loop, loopEnabled: loop !== null }));
    },
    [setMix, snap, grid],
  );
  const loopSection = useCallback(
    (region: LoopRegion) =>
      setMix((m) => (sameLoop(m.loop, region) && m.loopEnabled ? { ...m, loopEnabled: false } : { ...m, loop: region, loopEnabled: true })),
    [setMix],
  );

  const setView = (next: WaveView) => setZoomed(zoomLevel(next, duration) <= 1.0001 ? null : next);
  // Keys and buttons zoom around the playhead when it is in sight, else around the middle.
  const zoomBy = (factor: number, anchor?: number) => {
    const t = engine.currentTime;
    const at = anchor ?? (t >= view.start && t <= view.start + view.span ? t : view.start + view.span / 2);
    setView(zoomAt(view, factor, at, duration));
  };

  useAnimationFrame(() => {
    if (!zoomed || !engine.isPlaying) return;
    const next = followView(view, engine.currentTime, duration);
    if (next !== view) setZoomed(next);
  }, follow && zoomed !== null);

  const jump = (t: number | null) => {
    if (t === null) return;
    engine.seek(t);
    if (zoomed) setZoomed(followView(view, t, duration));
  };
  const keys: PracticeKeyActions = {
    undo: history.undo,
    redo: history.redo,
    addSection: () => setMix((m) => ({ ...m, sections: addSection(m.sections, engine.currentTime) })),
    previousSection: () => jump(previousSectionStart(mix.sections, engine.currentTime)),
    nextSection: () => jump(nextSectionStart(mix.sections, engine.currentTime)),
    loopSection: () => {
      const region = sectionLoop(mix.sections, Math.max(0, sectionAt(mix.sections, engine.currentTime)), duration);
      if (region) loopSection(region);
    },
    zoomIn: () => zoomBy(ZOOM_STEP),
    zoomOut: () => zoomBy(1 / ZOOM_STEP),
    toggleFollow: () => setFollow((f) => !f),
  };

  const waveProps: WaveViewProps = {
    view,
    onZoom: (factor, anchor) => zoomBy(factor, anchor),
    onScroll: (seconds) => setView(scrollBy(view, seconds, duration)),
    markers: mix.sections.map((s) => s.start),
  };

  const bar = (
    <PracticeBar
      canUndo={history.canUndo}
      canRedo={history.canRedo}
      onUndo={history.undo}
      onRedo={history.redo}
      duration={duration}
      view={view}
      onZoom={(factor) => zoomBy(factor)}
      onScrollTo={(start) => setView({ start, span: view.span })}
      follow={follow}
      onFollow={setFollow}
      snap={snap}
      onSnap={setSnap}
      hasBeats={grid.beats.length > 1}
    />
  );
  const sections = (
    <SectionsPanel
      sections={mix.sections}
      duration={duration}
      loop={mix.loop}
      loopEnabled={mix.loopEnabled}
      downbeats={grid.downbeats}
      onChange={(sections, key) => setMix((m) => ({ ...m, sections }), key)}
      onAdd={keys.addSection}
      onJump={(t) => jump(t)}
      onLoop={loopSection}
      onPrevious={keys.previousSection}
      onNext={keys.nextSection}
    />
  );
  return { mix, setMix, replace: history.replace, selectLoop, keys, waveProps, bar, sections };
}
