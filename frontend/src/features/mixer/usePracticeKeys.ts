// The practice tools' keys, beside the mixer's own (useMixerKeys.ts): undo and redo, sections,
// zoom and following. Like those, never a key the focused control uses itself (ownsKey).
import { useEffect, useEffectEvent } from "react";
import { ownsKey } from "./useMixerKeys";

export interface PracticeKeyActions {
  undo: () => void;
  redo: () => void;
  addSection: () => void;
  previousSection: () => void;
  nextSection: () => void;
  loopSection: () => void;
  zoomIn: () => void;
  zoomOut: () => void;
  toggleFollow: () => void;
}

/** The action of a key press, or null: exported for its tests. */
export function practiceAction(e: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "altKey" | "shiftKey">): keyof PracticeKeyActions | null {
  if (e.altKey) return null;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  if (e.ctrlKey || e.metaKey) {
    if (key === "z") return e.shiftKey ? "redo" : "undo";
    if (key === "y" && !e.shiftKey) return "redo";
    return null;
  }
  switch (key) {
    case "n":
      return "addSection";
    case "[":
      return "previousSection";
    case "]":
      return "nextSection";
    case "l":
      return "loopSection";
    case "+":
    case "=":
      return "zoomIn";
    case "-":
    case "_":
      return "zoomOut";
    case "f":
      return "toggleFollow";
    default:
      return null;
  }
}

export function usePracticeKeys(actions: PracticeKeyActions, enabled: boolean): void {
  const onKey = useEffectEvent((e: KeyboardEvent) => {
    if (e.defaultPrevented || ownsKey(e.target, e.key)) return;
    const action = practiceAction(e);
    if (!action) return;
    e.preventDefault(); // Ctrl+Z is ours here, not the page's; + and - zoom the waveforms only
    actions[action]();
  });
  useEffect(() => {
    if (!enabled) return;
    const listener = (e: KeyboardEvent) => onKey(e);
    document.addEventListener("keydown", listener);
    return () => document.removeEventListener("keydown", listener);
  }, [enabled]);
}
