// The mixer of a project that is still separating: a StreamingEngine fed with each stem's parts
// as the events say more is ready; once the project is ready, today's MixerEngine (the MP3
// previews, decoded) takes over on the same AudioContext at the same position.
import { useEffect, useRef, useState } from "react";
import { MixerEngine } from "../../audio/engine";
import type { MixSettings } from "../../audio/mixmath";
import { loadStretch } from "../../audio/stretchNode";
import { StreamingEngine, type MixerPlayer } from "../../audio/streaming";
import type { Project } from "../../lib/types";
import { loadStemBuffers } from "./loadStems";
import { StemStreams } from "./streamStems";

export interface StreamingLoad {
  engine: MixerPlayer | null;
  error: unknown;
  /** The links served no PCM (the project was ready first): load it as a ready project. */
  fallback: boolean;
}

/** The AudioContext at the stems' own rate when the browser allows it (no resampling per part). */
function contextAt(sampleRate: number): AudioContext {
  try {
    return new AudioContext({ latencyHint: "interactive", sampleRate });
  } catch {
    return new AudioContext({ latencyHint: "interactive" });
  }
}

export function useStreamingMixer(project: Project, initialMix: () => MixSettings): StreamingLoad {
  const [state, setState] = useState<StreamingLoad>({ engine: null, error: null, fallback: false });
  const streams = useRef<StemStreams | null>(null);
  // The latest body, for the load's callbacks.
  const latest = useRef(project);
  const finish = useRef<((ready: Project) => void) | null>(null);

  useEffect(() => {
    latest.current = project;
  });

  useEffect(() => {
    const abort = new AbortController();
    let ctx: AudioContext | null = null;
    let rate = 0;
    let player: MixerPlayer | null = null;
    const stems = latest.current.stems;
    const names = stems.map((s) => s.name);
    const pending: [string, Float32Array[]][] = [];
    const fail = (error: unknown) => {
      if (!abort.signal.aborted) setState((s) => ({ ...s, error }));
    };
    const source = new StemStreams(stems, abort.signal, (name, part) => {
      if (player instanceof StreamingEngine) {
        player.append(name, part.channels);
        return;
      }
      pending.push([name, part.channels]);
      if (!ctx) {
        rate = part.format.sampleRate;
        ctx = contextAt(rate);
      }
    });
    streams.current = source;

    let handedOver = false;
    finish.current = (ready) => {
      if (handedOver || !(player instanceof StreamingEngine) || !ctx) return;
      handedOver = true;
      source.stop();
      const streaming = player;
      const context = ctx;
      loadStemBuffers(context, ready.stems, abort.signal)
        .then((buffers) => {
          if (abort.signal.aborted) return;
          const { position, resume } = streaming.handOff();
          const full = new MixerEngine(context, buffers, streaming.mix, { stretch: loadStretch });
          full.seek(position);
          if (resume && position < full.duration - 0.05) void full.play();
          player = full;
          setState({ engine: full, error: null, fallback: false });
        })
        .catch(fail);
    };

    source
      .pull()
      .then(() => {
        if (abort.signal.aborted) return;
        if (!ctx) {
          // Nothing came as PCM: the project was ready by then; the full mixer loads it.
          setState({ engine: null, error: null, fallback: true });
          return;
        }
        const streaming = new StreamingEngine(ctx, names, rate, initialMix(), latest.current.duration_seconds);
        for (const [name, channels] of pending.splice(0)) streaming.append(name, channels);
        player = streaming;
        setState({ engine: streaming, error: null, fallback: false });
        if (latest.current.status === "ready") finish.current?.(latest.current);
        else void source.pull().catch(() => {});
      })
      .catch(fail);

    return () => {
      abort.abort();
      streams.current = null;
      finish.current = null;
      if (player) void player.dispose();
      else if (ctx) void ctx.close();
    };
    // One load per project; the following bodies reach it through `latest` and the effect below.
    // eslint-disable-next-line react-hooks/exhaustive-deps -- keyed by project.id alone (above)
  }, [project.id]);

  // One pull per step of the separation (events also come for progress alone).
  const { status, ready_seconds: readySeconds } = project;
  useEffect(() => {
    if (status === "ready") {
      finish.current?.(latest.current);
      return;
    }
    const source = streams.current;
    if (!source || status !== "processing") return;
    source.setLinks(latest.current.stems);
    // A failed pull is tried again at the next step; the first one's error shows (above).
    if (state.engine) void source.pull().catch(() => {});
  }, [status, readySeconds, state.engine]);

  return state;
}
