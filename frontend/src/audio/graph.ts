// The mix graph, shared by the live mixer and the offline render so both sound the same:
// per stem  source -> GainNode -> StereoPannerNode -> bus -> [stretch] -> master GainNode -> (meters) -> destination
// The click track joins at the master, after the stretch: it is scheduled in song time already
// and keeps its own pitch.
import { DEFAULT_TRACK, dbToGain, effectiveStemGains, type MixSettings } from "./mixmath";

export interface StemChain {
  gain: GainNode;
  pan: StereoPannerNode;
}

export interface MixGraph {
  stems: Record<string, StemChain>;
  /** The sum of the stems (unity gain): where the stretch takes the mix. */
  bus: GainNode;
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
    stems[name] = { gain, pan };
  }
  // Made after the stems' nodes (the order tests read the fake context's gains in).
  const bus = ctx.createGain();
  bus.connect(master);
  for (const chain of Object.values(stems)) chain.pan.connect(bus);
  return { stems, bus, master };
}

/** Puts `node` (the stretch) between the stems' sum and the master, or takes it out (null). */
export function insertBetweenBusAndMaster(graph: MixGraph, node: AudioNode | null, previous: AudioNode | null): void {
  graph.bus.disconnect();
  if (previous) previous.disconnect();
  if (node) {
    graph.bus.connect(node);
    node.connect(graph.master);
  } else {
    graph.bus.connect(graph.master);
  }
}

export interface ClickSettings {
  gainDb: number;
  mute: boolean;
  pan: number;
}

export const DEFAULT_CLICK: Readonly<ClickSettings> = { gainDb: -6, mute: false, pan: 0 };

/** The click track's chain: beats through `beat` (muted with the click), the count-in through `countIn` (never muted). */
export interface ClickChain {
  beat: GainNode;
  countIn: GainNode;
  pan: StereoPannerNode;
}

export function buildClickChain(ctx: Pick<BaseAudioContext, "createGain" | "createStereoPanner">, output: AudioNode): ClickChain {
  const beat = ctx.createGain();
  const countIn = ctx.createGain();
  const pan = ctx.createStereoPanner();
  beat.connect(pan);
  countIn.connect(pan);
  pan.connect(output);
  return { beat, countIn, pan };
}

export function applyClickSettings(chain: ClickChain, click: ClickSettings, now: number, rampSeconds: number): void {
  const set = (param: AudioParam, value: number) => {
    if (rampSeconds > 0) {
      param.cancelScheduledValues(now);
      param.setTargetAtTime(value, now, rampSeconds / 3);
    } else {
      param.value = value;
    }
  };
  const gain = dbToGain(click.gainDb);
  set(chain.beat.gain, click.mute ? 0 : gain);
  set(chain.countIn.gain, gain);
  set(chain.pan.pan, click.pan);
}

const CLICK_SECONDS = 0.04;

/** One click: a short decaying sine, higher and louder on a downbeat. */
export function makeClickBuffer(ctx: Pick<BaseAudioContext, "createBuffer" | "sampleRate">, accent: boolean): AudioBuffer {
  const rate = ctx.sampleRate;
  const frames = Math.round(CLICK_SECONDS * rate);
  const buffer = ctx.createBuffer(1, frames, rate);
  const data = new Float32Array(frames);
  const hz = accent ? 1600 : 1000;
  const amp = accent ? 0.9 : 0.6;
  for (let i = 0; i < frames; i++) {
    const t = i / rate;
    data[i] = amp * Math.sin(2 * Math.PI * hz * t) * Math.exp(-t / 0.008) * Math.min(1, i / 16);
  }
  buffer.copyToChannel(data, 0);
  return buffer;
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
