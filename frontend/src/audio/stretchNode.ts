// Signalsmith Stretch (npm signalsmith-stretch, its JS/WASM AudioWorklet build) as the mixer's
// pitch stage. The package's file is the worklet module itself: loaded into an
// AudioWorkletGlobalScope it registers the "signalsmith-stretch" processor. Vite ships it as an
// asset of our own origin (the package would otherwise load it from a blob: URL, which the UI's
// script-src does not allow; compiling its WASM needs 'wasm-unsafe-eval', see api/headers.py).
// We talk to the processor over its port with the package's message protocol
// ([id, method, ...args] -> [id, result]; "ready" once the WASM runs), so the main bundle does
// not carry a second copy of the WASM.
import workletUrl from "signalsmith-stretch?url";

/** What the engine needs of the stretch: a node in the graph and its pitch control. */
export interface StretchUnit {
  readonly node: AudioNode;
  /** Seconds from a frame entering the node to the same frame leaving it. */
  readonly latency: number;
  /** Shift the pitch of what enters the node from context time `when` on (now without it). */
  setSemitones(semitones: number, when?: number): Promise<void>;
  dispose(): void;
}

export type StretchFactory = (ctx: BaseAudioContext) => Promise<StretchUnit>;

const PROCESSOR = "signalsmith-stretch";
// The processor's own default; the server's export passes the same limit (tonalityHz / rate).
export const TONALITY_HZ = 8000;
const modules = new WeakMap<BaseAudioContext, Promise<void>>();

type Message = [string | number, unknown];

export const loadStretch: StretchFactory = async (ctx) => {
  let loading = modules.get(ctx);
  if (!loading) {
    loading = ctx.audioWorklet.addModule(workletUrl);
    modules.set(ctx, loading);
  }
  await loading;
  const node = new AudioWorkletNode(ctx, PROCESSOR, { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [2] });
  const pending = new Map<string | number, (value: unknown) => void>();
  let nextId = 0;
  node.port.onmessage = (event: MessageEvent<Message>) => {
    const [id, value] = event.data;
    const resolve = pending.get(id);
    if (!resolve) return;
    pending.delete(id);
    resolve(value);
  };
  const ready = new Promise((resolve) => pending.set("ready", resolve));
  const call = (method: string, ...args: unknown[]): Promise<unknown> => {
    const id = nextId++;
    return new Promise((resolve) => {
      pending.set(id, resolve);
      node.port.postMessage([id, method, ...args]);
    });
  };
  await ready;
  const latency = Number(await call("latency"));
  // Live input: the processor shifts what comes in, `rate` is not used. Active from now on.
  await call("schedule", { active: true, output: 0, semitones: 0, tonalityHz: TONALITY_HZ });
  return {
    node,
    latency,
    async setSemitones(semitones, when) {
      // The processor reads its schedule at currentTime + its output latency (about half the total).
      await call("schedule", { active: true, output: when === undefined ? 0 : when + latency / 2, semitones });
    },
    dispose() {
      node.port.onmessage = null;
      node.disconnect();
    },
  };
};
