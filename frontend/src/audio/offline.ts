// Renders a mix with OfflineAudioContext through the SAME graph as the live mixer, then
// hard-clips to [-1, 1] like the server's export does. Used by the parity e2e test.
//
// With practice settings it renders as the mixer plays them: every stem at playbackRate =
// tempo, the sum through the same Signalsmith Stretch worklet shifting by
// pitch − 12·log2(tempo) semitones (practice.ts), the stretch's latency cut from the start, so
// the result is the song's length / tempo. The server's export does the same steps (see
// docs/architecture.md "Tempo and pitch") so the two can be compared sample by sample.
import { applyClickSettings, applyMixSettings, buildClickChain, buildMixGraph, insertBetweenBusAndMaster, makeClickBuffer, type ClickSettings } from "./graph";
import type { MixSettings } from "./mixmath";
import { clampPitch, clampTempo, clicksInWindow, isNeutral, stretchSemitones } from "./practice";
import { loadStretch, type StretchFactory } from "./stretchNode";

export interface OfflinePractice {
  tempo: number;
  pitch: number;
  /** The click track on these beats (song seconds), mixed in as the mixer plays it. */
  click?: ClickSettings & { beats: number[]; downbeats: number[] };
}

// Room for the stretch's latency (about 0.1 s at 44.1 kHz) at the end of the render.
const LATENCY_ROOM_SECONDS = 1;

export async function renderMixOffline(
  buffers: Record<string, AudioBuffer>,
  settings: MixSettings,
  sampleRate: number,
  practice: OfflinePractice = { tempo: 1, pitch: 0 },
  stretchFactory: StretchFactory = loadStretch,
): Promise<AudioBuffer> {
  const tempo = clampTempo(practice.tempo);
  const pitch = clampPitch(practice.pitch);
  const stretched = !isNeutral(tempo, pitch);
  const names = Object.keys(buffers);
  const seconds = Math.max(0, ...names.map((n) => buffers[n]!.duration));
  const length = Math.max(1, Math.ceil((seconds / tempo) * sampleRate));
  const room = stretched ? Math.ceil(LATENCY_ROOM_SECONDS * sampleRate) : 0;
  const ctx = new OfflineAudioContext({ numberOfChannels: 2, length: length + room, sampleRate });
  const graph = buildMixGraph(ctx, names, ctx.destination);
  applyMixSettings(graph, settings, 0, 0);
  let latency = 0;
  if (stretched) {
    const stretch = await stretchFactory(ctx);
    await stretch.setSemitones(stretchSemitones(tempo, pitch));
    insertBetweenBusAndMaster(graph, stretch.node, null);
    latency = Math.round(stretch.latency * sampleRate) / sampleRate;
  }
  for (const name of names) {
    const source = ctx.createBufferSource();
    source.buffer = buffers[name]!;
    source.playbackRate.value = tempo;
    source.connect(graph.stems[name]!.gain);
    source.start(0, 0);
  }
  if (practice.click && practice.click.beats.length > 0) {
    const chain = buildClickChain(ctx, graph.master);
    applyClickSettings(chain, practice.click, 0, 0);
    const sounds = { beat: makeClickBuffer(ctx, false), accent: makeClickBuffer(ctx, true) };
    const run = { from: 0, at: latency, offset: 0, tempo, loop: null, end: seconds };
    for (const click of clicksInWindow(run, practice.click.beats, practice.click.downbeats, 0, Infinity)) {
      const node = ctx.createBufferSource();
      node.buffer = click.accent ? sounds.accent : sounds.beat;
      node.connect(chain.beat);
      node.start(click.time);
    }
  }
  const rendered = await ctx.startRendering();
  const skip = Math.round(latency * sampleRate);
  const out = stretched ? new AudioBuffer({ numberOfChannels: 2, length, sampleRate }) : rendered;
  for (let ch = 0; ch < out.numberOfChannels; ch++) {
    const data = stretched ? rendered.getChannelData(ch).subarray(skip, skip + length) : rendered.getChannelData(ch);
    const clipped = out === rendered ? data : new Float32Array(data);
    for (let i = 0; i < clipped.length; i++) clipped[i] = Math.max(-1, Math.min(1, clipped[i]!));
    if (out !== rendered) out.copyToChannel(clipped, ch);
  }
  return out;
}
