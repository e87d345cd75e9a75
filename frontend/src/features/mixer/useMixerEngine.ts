// Creates the mixer engine for a ready project in an effect and destroys it in the cleanup.
import { useEffect, useState } from "react";
import { MixerEngine } from "../../audio/engine";
import type { MixSettings } from "../../audio/mixmath";
import type { Project } from "../../lib/types";
import { loadStemsProgressively } from "./loadStems";

export interface MixerLoad {
  engine: MixerEngine | null;
  decoded: number;
  total: number;
  error: unknown;
}

export function useMixerEngine(project: Project, initialMix: () => MixSettings): MixerLoad {
  const [state, setState] = useState<MixerLoad>({ engine: null, decoded: 0, total: project.stems.length, error: null });

  useEffect(() => {
    const abort = new AbortController();
    const ctx = new AudioContext({ latencyHint: "interactive" });
    let engine: MixerEngine | null = null;
    let decoded = 0;
    performance.mark("mixer-load-start");
    setState({ engine: null, decoded: 0, total: project.stems.length, error: null });
    loadStemsProgressively(ctx, project.stems, project.duration_seconds, abort.signal, () => {
      decoded++;
      if (!abort.signal.aborted) setState((s) => ({ ...s, decoded }));
    })
      .then(async ({ first, rest }) => {
        if (abort.signal.aborted) return;
        const duration = rest ? (project.duration_seconds ?? undefined) : undefined;
        engine = new MixerEngine(ctx, first, initialMix(), { duration, complete: rest === null });
        // "Ready to play": every stem can start now (the bench reads this measure).
        performance.mark("mixer-ready");
        performance.measure("mixer-load", "mixer-load-start", "mixer-ready");
        setState((s) => ({ ...s, engine }));
        if (rest) {
          const full = await rest;
          if (abort.signal.aborted) return;
          engine.replaceBuffers(full);
        }
        performance.mark("mixer-complete");
        performance.measure("mixer-load-complete", "mixer-load-start", "mixer-complete");
      })
      .catch((error: unknown) => {
        if (!abort.signal.aborted) setState((s) => ({ ...s, error }));
      });
    return () => {
      abort.abort();
      if (engine) void engine.dispose();
      else void ctx.close();
    };
    // initialMix is read once per load, on purpose
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [project.id]);

  return state;
}
