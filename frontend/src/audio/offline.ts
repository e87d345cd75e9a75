// Renders a mix with OfflineAudioContext through the SAME graph as the live mixer, then
// hard-clips to [-1, 1] like the server's export does. Used by the parity e2e test.
import { applyMixSettings, buildMixGraph } from "./graph";
import type { MixSettings } from "./mixmath";

export async function renderMixOffline(
  buffers: Record<string, AudioBuffer>,
  settings: MixSettings,
  sampleRate: number,
): Promise<AudioBuffer> {
  const names = Object.keys(buffers);
  const seconds = Math.max(0, ...names.map((n) => buffers[n]!.duration));
  const length = Math.max(1, Math.ceil(seconds * sampleRate));
  const ctx = new OfflineAudioContext({ numberOfChannels: 2, length, sampleRate });
  const graph = buildMixGraph(ctx, names, ctx.destination);
  applyMixSettings(graph, settings, 0, 0);
  for (const name of names) {
    const source = ctx.createBufferSource();
    source.buffer = buffers[name]!;
    source.connect(graph.stems[name]!.gain);
    source.start(0, 0);
  }
  const rendered = await ctx.startRendering();
  for (let ch = 0; ch < rendered.numberOfChannels; ch++) {
    const data = rendered.getChannelData(ch);
    for (let i = 0; i < data.length; i++) data[i] = Math.max(-1, Math.min(1, data[i]!));
  }
  return rendered;
}
