// Remembers a project's mixer settings in localStorage, so a reload keeps the mix.
import type { MixSettings } from "../../audio/mixmath";
import { initialMixState, parseMixState, type MixState } from "./mixState";

const key = (projectId: string) => `isomix:mix:${projectId}`;

/** The working mix of a project: the mix as the user left it, unsaved moves included. */
export function loadMix(projectId: string, stemNames: readonly string[]): MixState {
  try {
    const raw = window.localStorage.getItem(key(projectId));
    return raw ? parseMixState(JSON.parse(raw), stemNames) : initialMixState(stemNames);
  } catch {
    return initialMixState(stemNames);
  }
}

export function saveMix(projectId: string, mix: MixSettings): void {
  try {
    window.localStorage.setItem(key(projectId), JSON.stringify(mix));
  } catch {
    // storage full or disabled: the mix just isn't remembered
  }
}

const openedKey = (projectId: string) => `isomix:mix-opened:${projectId}`;

/** The named mix the working mix began as on this device (null: none, or not known). */
export function loadOpenedMixId(projectId: string): string | null {
  try {
    return window.localStorage.getItem(openedKey(projectId));
  } catch {
    return null;
  }
}

export function saveOpenedMixId(projectId: string, mixId: string | null): void {
  try {
    if (mixId) window.localStorage.setItem(openedKey(projectId), mixId);
    else window.localStorage.removeItem(openedKey(projectId));
  } catch {
    // as above
  }
}
