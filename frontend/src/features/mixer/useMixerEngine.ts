// Creates the mixer engine for a ready project in an effect and destroys it in the cleanup.
import { useEffect, useState } from "react";
import { MixerEngine } from "../../audio/engine";
import type { MixSettings } from "../../audio/mixmath";
import { loadStretch } from "../../audio/stretchNode";
import type { Project } from "../../lib/types";
import { loadStemsProgressively } from "./loadStems";

export interface MixerLoad {
  engine: MixerEngine | null;
  decoded: number;
  total: number;
  error: unknown;
}

/** The load of one project: a load's updates land only in the state of its own project. */
interface ProjectLoad extends MixerLoad {
  projectId: string;
}

const notLoaded = (project: Project): ProjectLoad => ({ projectId: project.id, engine: null, decoded: 0, total: project.stems.length, error: null });

export function useMixerEngine(project: Project, initialMix: () => MixSettings): MixerLoad {
  const [state, setState] = useState<ProjectLoad>(() => notLoaded(project));

  useEffect(() => {
    const abort = new AbortController();
    const ctx = new AudioContext({ latencyHint: "interactive" });
    let engine: MixerEngine | null = null;
    let decoded = 0;
    // Another project's state, if the project changed, starts over rather than carrying on.
    const update = (patch: Partial<MixerLoad>) =>
      setState((s) => ({ ...(s.projectId === project.id ? s : notLoaded(project)), ...patch }));
    performance.mark("mixer-load-start");
    loadStemsProgressively(ctx, project.stems, project.duration_seconds, abort.signal, () => {
      decoded++;
      if (!abort.signal.aborted) update({ decoded });
    })
      .then(async ({ first, rest }) => {
        if (abort.signal.aborted) return;
        const duration = rest ? (project.duration_seconds ?? undefined) : undefined;
        engine = new MixerEngine(ctx, first, initialMix(), { duration, complete: rest === null, stretch: loadStretch });
        // "Ready to play": every stem can start now (the bench reads this measure).
        performance.mark("mixer-ready");
        performance.measure("mixer-load", "mixer-load-start", "mixer-ready");
        update({ engine });
        if (rest) {
          const full = await rest;
          if (abort.signal.aborted) return;
          engine.replaceBuffers(full);
        }
        performance.mark("mixer-complete");
        performance.measure("mixer-load-complete", "mixer-load-start", "mixer-complete");
      })
      .catch((error: unknown) => {
        if (!abort.signal.aborted) update({ error });
      });
    return () => {
      abort.abort();
      if (engine) void engine.dispose();
      else void ctx.close();
    };
    // One load per project: a ready project's stems and duration don't change, and initialMix
    // is read once per load, on purpose.
    // eslint-disable-next-line react-hooks/exhaustive-deps -- keyed by project.id alone (above)
  }, [project.id]);

  // Until this project's load reports, it has loaded nothing (not the last project's engine).
  return state.projectId === project.id ? state : notLoaded(project);
}
