import { useEffect, useEffectEvent } from "react";
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
  // An effect event: reads the latest engine, mix and updateTrack without re-subscribing.
  const onKey = useEffectEvent((e: KeyboardEvent) => {
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
        if (stem && mix.stems[stem]) updateTrack(stem, { mute: !mix.stems[stem]!.mute });
        break;
      case "s":
      case "S":
        if (stem && mix.stems[stem]) updateTrack(stem, { solo: !mix.stems[stem]!.solo });
        break;
    }
  });
  useEffect(() => {
    if (!enabled) return;
    const listener = (e: KeyboardEvent) => onKey(e);
    document.addEventListener("keydown", listener);
    return () => document.removeEventListener("keydown", listener);
  }, [enabled]);
}
