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
  started: [number, number] | null = null;
  stopped = false;
  onended: (() => void) | null = null;
  constructor() {
    super("source");
  }
  start(when: number, offset: number): void {
    this.started = [when, offset];
  }
  stop(): void {
    this.stopped = true;
  }
}

export class FakeContext {
  currentTime = 0;
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
