// The mix graph, shared by the live mixer and the offline render so both sound the same:
// per stem  source -> GainNode -> StereoPannerNode -> master GainNode -> (meters) -> destination
import { DEFAULT_TRACK, dbToGain, effectiveStemGains, type MixSettings } from "./mixmath";

export interface StemChain {
  gain: GainNode;
  pan: StereoPannerNode;
}

export interface MixGraph {
  stems: Record<string, StemChain>;
  master: GainNode;
}

export function buildMixGraph(ctx: Pick<BaseAudioContext, "createGain" | "createStereoPanner">, names: readonly string[], output: AudioNode): MixGraph {
  const master = ctx.createGain();
  master.connect(output);
  const stems: Record<string, StemChain> = {};
  for (const name of names) {
    const gain = ctx.createGain();
    const pan = ctx.createStereoPanner();
    gain.connect(pan);
    pan.connect(master);
    stems[name] = { gain, pan };
  }
  return { stems, master };
}

/**
 * Put the settings on the graph. `rampSeconds` > 0 glides live changes (no zipper clicks);
 * 0 sets the values at once (offline render, before start).
 */
export function applyMixSettings(
  graph: MixGraph,
  settings: MixSettings,
  now: number,
  rampSeconds: number,
): void {
  // Stems missing from the settings play at 0 dB, centre, unmuted (as the export API does).
  const tracks = { ...settings.stems };
  for (const name of Object.keys(graph.stems)) tracks[name] ??= { ...DEFAULT_TRACK };
  const gains = effectiveStemGains(tracks);
  const set = (param: AudioParam, value: number) => {
    if (rampSeconds > 0) {
      param.cancelScheduledValues(now);
      param.setTargetAtTime(value, now, rampSeconds / 3);
    } else {
      param.value = value;
    }
  };
  for (const [name, chain] of Object.entries(graph.stems)) {
    set(chain.gain.gain, gains[name]!);
    set(chain.pan.pan, tracks[name]!.pan);
  }
  set(graph.master.gain, dbToGain(settings.masterGainDb));
}
