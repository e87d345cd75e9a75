import { useEffect, useEffectEvent } from "react";
import type { MixerEngine } from "../../audio/engine";
import type { MixSettings, TrackState } from "../../audio/mixmath";

const SEEK_STEP_SECONDS = 5;

const SLIDER_KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"]);
const ACTIVATION_KEYS = new Set([" ", "Enter"]);
const BUTTON_INPUT_TYPES = new Set(["button", "submit", "reset", "image", "file", "color"]);

/**
 * Whether the focused element has its own use for this key, so the mixer's global keys must
 * leave it alone: typing in fields and menus, a slider's arrows, a radio group's arrows, and
 * Space and Enter on anything that can be pressed (buttons, links, checkboxes, summaries).
 * Exported for its tests.
 */
export function ownsKey(target: EventTarget | null, key: string): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    const type = target.type;
    if (type === "range") return SLIDER_KEYS.has(key);
    if (type === "checkbox") return ACTIVATION_KEYS.has(key);
    if (type === "radio") return ACTIVATION_KEYS.has(key) || SLIDER_KEYS.has(key);
    if (BUTTON_INPUT_TYPES.has(type)) return ACTIVATION_KEYS.has(key);
    return true; // a text-like field: every key is typing
  }
  if (target instanceof HTMLButtonElement || target.tagName === "SUMMARY") return ACTIVATION_KEYS.has(key);
  if (target instanceof HTMLAnchorElement && target.hasAttribute("href")) return ACTIVATION_KEYS.has(key);
  const role = target.getAttribute("role");
  if (role === "button" || role === "link" || role === "checkbox" || role === "switch" || role === "menuitem" || role === "tab") return ACTIVATION_KEYS.has(key);
  if (role === "slider") return SLIDER_KEYS.has(key);
  return false;
}

/**
 * Space play/pause, ArrowLeft/Right seek ±5 s, M/S mute/solo the lane that has focus; never a
 * key the focused control uses itself (see `ownsKey`).
 */
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
        e.preventDefault(); // the page would scroll otherwise
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
