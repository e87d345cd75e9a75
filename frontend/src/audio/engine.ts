// The mixer's audio engine: one AudioContext, one AudioBufferSourceNode per stem, all started
// with the same start(when, offset) so they never drift. No React here; see useMixerEngine.
import { Emitter } from "./emitter";
import { applyMixSettings, buildMixGraph, type MixGraph } from "./graph";
import { clamp, playheadPosition, type MixSettings } from "./mixmath";

export interface LoopRegion {
  start: number;
  end: number;
}

export interface EngineEvents extends Record<string, unknown> {
  play: { position: number };
  pause: { position: number };
  seek: { position: number };
  ended: { position: number };
  loop: { region: LoopRegion | null; enabled: boolean };
  /** Playback reached the end of partly decoded buffers; it resumes when they are complete. */
  waiting: { position: number };
  /** The complete buffers replaced the partial ones. */
  complete: { position: number };
}

export interface EngineOptions {
  /** The song's length when `buffers` hold only its beginning (see replaceBuffers). */
  duration?: number;
  /** False while `buffers` hold only the beginning of each stem. */
  complete?: boolean;
}

/** The slice of AudioContext the engine uses (lets tests pass a fake). */
export type EngineContext = Pick<
  AudioContext,
  | "createGain"
  | "createStereoPanner"
  | "createBufferSource"
  | "createAnalyser"
  | "destination"
  | "currentTime"
  | "state"
  | "resume"
  | "suspend"
  | "close"
>;

// A little lead time so every source is scheduled before the moment they all start.
const START_LEAD_SECONDS = 0.03;
const LIVE_RAMP_SECONDS = 0.015;

export class MixerEngine {
  readonly events = new Emitter<EngineEvents>();
  private songDuration: number;
  private complete: boolean;
  private resumeWhenComplete = false;
  private readonly graph: MixGraph;
  private readonly stemMeters: Record<string, AnalyserNode> = {};
  private readonly masterMeter: AnalyserNode;
  private sources: AudioBufferSourceNode[] = [];
  private playing = false;
  private offset = 0; // position (s) at which the current sources started
  private startedAt = 0; // context time at which they started
  private loopRegion: LoopRegion | null = null;
  private loopEnabled = false;
  private settings: MixSettings;
  private generation = 0; // ignores onended from sources we stopped on purpose
  private disposed = false;
  private meterScratch = new Float32Array(0); // reused: meters are read every frame

  constructor(
    private readonly ctx: EngineContext,
    private buffers: Record<string, AudioBuffer>,
    settings: MixSettings,
    options: EngineOptions = {},
  ) {
    this.masterMeter = ctx.createAnalyser();
    this.masterMeter.fftSize = 1024;
    this.masterMeter.connect(ctx.destination);
    const names = Object.keys(buffers);
    this.graph = buildMixGraph(ctx, names, this.masterMeter);
    for (const name of names) {
      const meter = ctx.createAnalyser();
      meter.fftSize = 1024;
      // A tap after the panner: meters read the stem as mixed, without changing the mix.
      this.graph.stems[name]!.pan.connect(meter);
      this.stemMeters[name] = meter;
    }
    this.songDuration = options.duration ?? maxDuration(buffers);
    this.complete = options.complete ?? true;
    this.settings = settings;
    applyMixSettings(this.graph, settings, ctx.currentTime, 0);
  }

  get isPlaying(): boolean {
    return this.playing;
  }

  get duration(): number {
    return this.songDuration;
  }

  /** False while only the beginning of each stem is decoded. */
  get isComplete(): boolean {
    return this.complete;
  }

  /**
   * Swap in the fully decoded buffers. While playing, the old sources stop and the new ones
   * start at the same future context time and the matching offset: no gap, no drift.
   */
  replaceBuffers(buffers: Record<string, AudioBuffer>): void {
    if (this.disposed) return;
    this.buffers = buffers;
    this.songDuration = maxDuration(buffers);
    this.complete = true;
    if (this.playing) {
      const when = this.ctx.currentTime + START_LEAD_SECONDS;
      const position = playheadPosition(this.offset, when - this.startedAt, this.duration, this.activeLoop());
      const old = this.sources;
      this.generation++;
      for (const source of old) {
        source.onended = () => source.disconnect();
        source.stop(when);
      }
      this.startSources(position, when);
    } else if (this.resumeWhenComplete) {
      this.resumeWhenComplete = false;
      void this.play();
    }
    this.events.emit("complete", { position: this.currentTime });
  }

  get stemNames(): string[] {
    return Object.keys(this.buffers);
  }

  get currentTime(): number {
    if (!this.playing) return this.offset;
    const elapsed = this.ctx.currentTime - this.startedAt;
    return playheadPosition(this.offset, elapsed, this.duration, this.activeLoop());
  }

  get loop(): { region: LoopRegion | null; enabled: boolean } {
    return { region: this.loopRegion, enabled: this.loopEnabled };
  }

  setMix(settings: MixSettings): void {
    this.settings = settings;
    applyMixSettings(this.graph, settings, this.ctx.currentTime, LIVE_RAMP_SECONDS);
  }

  get mix(): MixSettings {
    return this.settings;
  }

  async play(): Promise<void> {
    if (this.playing || this.disposed) return;
    if (this.ctx.state === "suspended") await this.ctx.resume();
    let position = this.offset >= this.duration ? 0 : this.offset;
    const loop = this.activeLoop();
    if (loop && (position < loop.start || position >= loop.end)) position = loop.start;
    this.startSources(position);
    this.events.emit("play", { position });
  }

  pause(): void {
    this.resumeWhenComplete = false;
    if (!this.playing) return;
    const position = this.currentTime;
    this.stopSources();
    this.offset = position;
    this.events.emit("pause", { position });
  }

  toggle(): Promise<void> {
    if (this.playing) {
      this.pause();
      return Promise.resolve();
    }
    return this.play();
  }

  /** Jump to `position` seconds; playing continues from there (sources are recreated). */
  seek(position: number): void {
    const target = clamp(position, 0, this.duration);
    if (this.playing) {
      this.stopSources();
      this.startSources(target);
    } else {
      this.offset = target;
    }
    this.events.emit("seek", { position: target });
  }

  setLoopRegion(region: LoopRegion | null): void {
    const r = region && region.end - region.start > 0.05
      ? { start: clamp(region.start, 0, this.duration), end: clamp(region.end, 0, this.duration) }
      : null;
    this.loopRegion = r;
    if (!r) this.loopEnabled = false;
    this.restartForLoopChange();
  }

  setLoopEnabled(enabled: boolean): void {
    this.loopEnabled = enabled && this.loopRegion !== null;
    this.restartForLoopChange();
  }

  /** Peak level (0..1) of a stem (or of the master with no name) over the last few ms. */
  level(stem?: string): number {
    const meter = stem === undefined ? this.masterMeter : this.stemMeters[stem];
    if (!meter) return 0;
    if (this.meterScratch.length !== meter.fftSize) this.meterScratch = new Float32Array(meter.fftSize);
    const data = this.meterScratch;
    meter.getFloatTimeDomainData(data);
    let peak = 0;
    for (const v of data) {
      const a = Math.abs(v);
      if (a > peak) peak = a;
    }
    return peak;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.stopSources();
    this.events.clear();
    if (this.ctx.state !== "closed") await this.ctx.close();
  }

  private activeLoop(): LoopRegion | null {
    return this.loopEnabled ? this.loopRegion : null;
  }

  private restartForLoopChange(): void {
    this.events.emit("loop", this.loop);
    if (!this.playing) return;
    // Keep the playhead; new sources pick up the new loop points (and a fresh position base).
    let position = this.currentTime;
    const loop = this.activeLoop();
    if (loop && (position < loop.start || position >= loop.end)) position = loop.start;
    this.stopSources();
    this.startSources(position);
  }

  private startSources(position: number, at?: number): void {
    const when = at ?? this.ctx.currentTime + START_LEAD_SECONDS;
    const loop = this.activeLoop();
    const generation = ++this.generation;
    this.sources = Object.entries(this.buffers).map(([name, buffer]) => {
      const source = this.ctx.createBufferSource();
      source.buffer = buffer;
      if (loop) {
        source.loop = true;
        source.loopStart = loop.start;
        source.loopEnd = loop.end;
      }
      source.connect(this.graph.stems[name]!.gain);
      return source;
    });
    // Every source gets the same (when, offset): they start on the same sample frame.
    for (const source of this.sources) source.start(when, position);
    const first = this.sources[0];
    if (first) {
      first.onended = () => {
        if (generation !== this.generation || !this.playing) return;
        if (!this.complete) {
          // Ran past the decoded beginning: hold here and go on when the rest arrives.
          const position = Math.min(this.currentTime, first.buffer?.duration ?? this.currentTime);
          this.stopSources();
          this.offset = position;
          this.resumeWhenComplete = true;
          this.events.emit("waiting", { position });
          return;
        }
        this.sources = [];
        this.playing = false;
        this.offset = this.duration;
        this.events.emit("ended", { position: this.duration });
      };
    }
    this.offset = position;
    this.startedAt = when;
    this.playing = true;
  }

  private stopSources(): void {
    this.generation++;
    for (const source of this.sources) {
      source.onended = null;
      try {
        source.stop();
      } catch {
        // already stopped
      }
      source.disconnect();
    }
    this.sources = [];
    this.playing = false;
  }
}

function maxDuration(buffers: Record<string, AudioBuffer>): number {
  return Math.max(0, ...Object.values(buffers).map((b) => b.duration));
}
