import { useEffect, useRef } from "react";
import type { MixerEngine } from "../../audio/engine";
import type { MixSettings, TrackState } from "../../audio/mixmath";

const SEEK_STEP_SECONDS = 5;

/** Where a key press should be left alone: typing, menus, and sliders' own arrow keys. */
function ownsKey(target: EventTarget | null, key: string): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    if (target.type === "range") return key.startsWith("Arrow") || key === "Home" || key === "End";
    return target.type !== "checkbox" && target.type !== "radio";
  }
  return false;
}

/** Space play/pause, ArrowLeft/Right seek ±5 s, M/S mute/solo the lane that has focus. */
export function useMixerKeys(
  engine: MixerEngine,
  mix: MixSettings,
  updateTrack: (name: string, patch: Partial<TrackState>) => void,
  enabled: boolean,
): void {
  const mixRef = useRef(mix);
  mixRef.current = mix;
  useEffect(() => {
    if (!enabled) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
      if (ownsKey(e.target, e.key)) return;
      const lane = document.activeElement?.closest<HTMLElement>("[data-stem]");
      const stem = lane?.dataset.stem;
      switch (e.key) {
        case " ":
          e.preventDefault(); // also stops a focused button from being "clicked" by Space
          void engine.toggle();
          break;
        case "ArrowLeft":
          e.preventDefault();
          engine.seek(engine.currentTime - SEEK_STEP_SECONDS);
          break;
        case "ArrowRight":
          e.preventDefault();
          engine.seek(engine.currentTime + SEEK_STEP_SECONDS);
          break;
        case "m":
        case "M":
          if (stem && mixRef.current.stems[stem]) updateTrack(stem, { mute: !mixRef.current.stems[stem]!.mute });
          break;
        case "s":
        case "S":
          if (stem && mixRef.current.stems[stem]) updateTrack(stem, { solo: !mixRef.current.stems[stem]!.solo });
          break;
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [engine, updateTrack, enabled]);
}
