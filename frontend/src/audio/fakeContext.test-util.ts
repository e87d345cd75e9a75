// A minimal fake AudioContext that records the graph, for engine tests in Node.
export class FakeParam {
  value: number;
  constructor(v: number) {
    this.value = v;
  }
  cancelScheduledValues(): void {}
  setTargetAtTime(v: number): void {
    this.value = v; // the target is what matters for these tests
  }
  /** Every setValueAtTime, as [value, time]. */
  readonly events: [number, number][] = [];
  setValueAtTime(v: number, time: number): void {
    this.events.push([v, time]);
    this.value = v;
  }
}

export class FakeNode {
  readonly connections: FakeNode[] = [];
  constructor(readonly kind: string) {}
  connect(node: FakeNode): FakeNode {
    this.connections.push(node);
    return node;
  }
  disconnect(): void {
    this.connections.length = 0;
  }
}

export class FakeGain extends FakeNode {
  gain = new FakeParam(1);
  constructor() {
    super("gain");
  }
}
export class FakePanner extends FakeNode {
  pan = new FakeParam(0);
  constructor() {
    super("panner");
  }
}
export class FakeAnalyser extends FakeNode {
  fftSize = 2048;
  level = 0;
  constructor() {
    super("analyser");
  }
  getFloatTimeDomainData(out: Float32Array): void {
    out.fill(this.level);
  }
}
export class FakeSource extends FakeNode {
  buffer: { duration: number } | null = null;
  loop = false;
  loopStart = 0;
  loopEnd = 0;
  playbackRate = new FakeParam(1);
  started: [number, number] | null = null;
  /** The `duration` argument of start(), if any. */
  startDuration: number | undefined = undefined;
  stopped = false;
  onended: (() => void) | null = null;
  constructor() {
    super("source");
  }
  start(when: number, offset = 0, duration?: number): void {
    this.started = [when, offset];
    this.startDuration = duration;
  }
  stop(): void {
    this.stopped = true;
  }
}

export class FakeBuffer {
  constructor(
    readonly numberOfChannels: number,
    readonly length: number,
    readonly sampleRate: number,
  ) {}
  get duration(): number {
    return this.length / this.sampleRate;
  }
  copyToChannel(): void {}
}

/** A stand-in for the Signalsmith Stretch node (stretchNode.ts StretchUnit). */
export class FakeStretch {
  readonly node = new FakeNode("stretch");
  readonly shifts: [number, number | undefined][] = [];
  disposed = false;
  constructor(readonly latency = 0.1) {}
  setSemitones(semitones: number, when?: number): Promise<void> {
    this.shifts.push([semitones, when]);
    return Promise.resolve();
  }
  dispose(): void {
    this.disposed = true;
  }
}

export class FakeContext {
  currentTime = 0;
  sampleRate = 44100;
  state: "running" | "suspended" | "closed" = "running";
  readonly destination = new FakeNode("destination");
  readonly sources: FakeSource[] = [];
  readonly gains: FakeGain[] = [];
  readonly panners: FakePanner[] = [];
  readonly analysers: FakeAnalyser[] = [];
  createGain(): FakeGain {
    const n = new FakeGain();
    this.gains.push(n);
    return n;
  }
  createStereoPanner(): FakePanner {
    const n = new FakePanner();
    this.panners.push(n);
    return n;
  }
  createAnalyser(): FakeAnalyser {
    const n = new FakeAnalyser();
    this.analysers.push(n);
    return n;
  }
  createBuffer(channels: number, length: number, sampleRate: number): FakeBuffer {
    return new FakeBuffer(channels, length, sampleRate);
  }
  createBufferSource(): FakeSource {
    const n = new FakeSource();
    this.sources.push(n);
    return n;
  }
  async resume(): Promise<void> {
    this.state = "running";
  }
  async suspend(): Promise<void> {
    this.state = "suspended";
  }
  async close(): Promise<void> {
    this.state = "closed";
  }
}
