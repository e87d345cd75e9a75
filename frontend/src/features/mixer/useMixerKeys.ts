import { useEffect, useEffectEvent, useRef } from "react";
import type { MixerPlayer } from "../../audio/streaming";
import type { MixSettings, TrackState } from "../../audio/mixmath";

const SEEK_STEP_SECONDS = 5;

const SLIDER_KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"]);
const ACTIVATION_KEYS = new Set([" ", "Enter"]);
const BUTTON_INPUT_TYPES = new Set(["button", "submit", "reset", "image", "file", "color"]);

/**
 * Whether the user reached this control with the keyboard (`:focus-visible`), not by clicking
 * it: Chrome focuses a clicked button, and Space must still play after a click on Solo.
 */
function keyboardFocused(target: HTMLElement): boolean {
  try {
    return target.matches(":focus-visible");
  } catch {
    return true; // a browser without :focus-visible: leave the control its keys
  }
}

/**
 * The control focused by a pointer (a click): Chrome makes the focused element match
 * `:focus-visible` as soon as a key goes down, before the page sees the key, so a click is
 * remembered here. Set by `useMixerKeys`.
 */
let clicked: Element | null = null;

/** Space and Enter press a control the keyboard is on; Enter follows a link (Space on it plays). */
function presses(target: HTMLElement, key: string, keys: ReadonlySet<string> = ACTIVATION_KEYS): boolean {
  return keys.has(key) && target !== clicked && keyboardFocused(target);
}

const LINK_KEYS: ReadonlySet<string> = new Set(["Enter"]);

/**
 * Whether the focused element has its own use for this key, so the mixer's global keys must
 * leave it alone: typing in fields and menus, a slider's arrows, a radio group's arrows, and
 * Space and Enter on anything that can be pressed (buttons, checkboxes, summaries; Enter only on
 * links) once the keyboard is on it; clicked with the mouse, Space still plays. Exported for its
 * tests.
 */
export function ownsKey(target: EventTarget | null, key: string): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    const type = target.type;
    if (type === "range") return SLIDER_KEYS.has(key);
    if (type === "checkbox") return presses(target, key);
    if (type === "radio") return presses(target, key) || SLIDER_KEYS.has(key);
    if (BUTTON_INPUT_TYPES.has(type)) return presses(target, key);
    return true; // a text-like field: every key is typing
  }
  if (target instanceof HTMLButtonElement || target.tagName === "SUMMARY") return presses(target, key);
  if (target instanceof HTMLAnchorElement && target.hasAttribute("href")) return presses(target, key, LINK_KEYS);
  const role = target.getAttribute("role");
  if (role === "link") return presses(target, key, LINK_KEYS);
  if (role === "button" || role === "checkbox" || role === "switch" || role === "menuitem" || role === "tab") return presses(target, key);
  if (role === "slider") return SLIDER_KEYS.has(key);
  return false;
}

/**
 * Space play/pause, ArrowLeft/Right seek ±5 s, M/S mute/solo the lane that has focus; never a
 * key the focused control uses itself (see `ownsKey`).
 */
export function useMixerKeys(
  engine: MixerPlayer,
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
  // How the focused control got focus: a pointer press just before, or the keyboard.
  const pointerDown = useRef(false);
  useEffect(() => {
    if (!enabled) return;
    const listener = (e: KeyboardEvent) => {
      pointerDown.current = false;
      onKey(e);
    };
    const onPointer = () => {
      pointerDown.current = true;
    };
    const onFocus = (e: FocusEvent) => {
      clicked = pointerDown.current ? (e.target as Element | null) : null;
      pointerDown.current = false;
    };
    document.addEventListener("keydown", listener);
    document.addEventListener("pointerdown", onPointer, true);
    document.addEventListener("mousedown", onPointer, true);
    document.addEventListener("focusin", onFocus);
    return () => {
      document.removeEventListener("keydown", listener);
      document.removeEventListener("pointerdown", onPointer, true);
      document.removeEventListener("mousedown", onPointer, true);
      document.removeEventListener("focusin", onFocus);
      clicked = null;
    };
  }, [enabled]);
}
