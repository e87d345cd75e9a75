// The mixer's state with undo and redo (mixHistory.ts); a pointer or key released ends a run of
// moves, so one fader drag or one held arrow key is one step.
import { useCallback, useEffect, useState } from "react";
import { createHistory, record, redo, reset, seal, undo, type History } from "./mixHistory";
import type { MixState } from "./mixState";

export type MixUpdate = MixState | ((mix: MixState) => MixState);

export interface MixHistory {
  mix: MixState;
  /** A mix move; moves with the same `key` in a row (one drag) make one step. */
  setMix: (update: MixUpdate, key?: string) => void;
  undo: () => void;
  redo: () => void;
  canUndo: boolean;
  canRedo: boolean;
  /** Starts over from `mix` with no steps (a mix loaded when the mixer opens). */
  replace: (mix: MixState) => void;
}

export function useMixHistory(initial: () => MixState): MixHistory {
  const [history, setHistory] = useState<History<MixState>>(() => createHistory(initial()));
  const setMix = useCallback((update: MixUpdate, key?: string) => {
    setHistory((h) => record(h, typeof update === "function" ? update(h.present) : update, key ?? null, performance.now()));
  }, []);
  const undoMove = useCallback(() => setHistory(undo), []);
  const redoMove = useCallback(() => setHistory(redo), []);
  const replace = useCallback((mix: MixState) => setHistory(reset(mix)), []);

  useEffect(() => {
    const end = () => setHistory(seal);
    document.addEventListener("pointerup", end, true);
    document.addEventListener("pointercancel", end, true);
    document.addEventListener("keyup", end, true);
    return () => {
      document.removeEventListener("pointerup", end, true);
      document.removeEventListener("pointercancel", end, true);
      document.removeEventListener("keyup", end, true);
    };
  }, []);

  return {
    mix: history.present,
    setMix,
    undo: undoMove,
    redo: redoMove,
    canUndo: history.past.length > 0,
    canRedo: history.future.length > 0,
    replace,
  };
}
