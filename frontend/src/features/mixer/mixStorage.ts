// Remembers a project's mixer settings in localStorage, so a reload keeps the mix.
import { MAX_DB, MIN_DB, clamp, initialTracks, type MixSettings, type TrackState } from "../../audio/mixmath";

const key = (projectId: string) => `isomix:mix:${projectId}`;

export function loadMix(projectId: string, stemNames: readonly string[]): MixSettings {
  const fresh: MixSettings = { stems: initialTracks(stemNames), masterGainDb: 0 };
  try {
    const raw = window.localStorage.getItem(key(projectId));
    if (!raw) return fresh;
    const saved = JSON.parse(raw) as { stems?: Record<string, Partial<TrackState>>; masterGainDb?: number };
    for (const name of stemNames) {
      const t = saved.stems?.[name];
      if (!t) continue;
      fresh.stems[name] = {
        gainDb: clamp(Number(t.gainDb ?? 0) || 0, MIN_DB, MAX_DB),
        mute: Boolean(t.mute),
        solo: Boolean(t.solo),
        pan: clamp(Number(t.pan ?? 0) || 0, -1, 1),
      };
    }
    fresh.masterGainDb = clamp(Number(saved.masterGainDb ?? 0) || 0, MIN_DB, MAX_DB);
    return fresh;
  } catch {
    return fresh;
  }
}

export function saveMix(projectId: string, mix: MixSettings): void {
  try {
    window.localStorage.setItem(key(projectId), JSON.stringify(mix));
  } catch {
    // storage full or disabled: the mix just isn't remembered
  }
}
