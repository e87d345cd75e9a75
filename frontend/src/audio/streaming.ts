// The mixer's engine while the song is still separating: each stem arrives in parts (PCM from
// the partial WAVs, see features/mixer/streamStems.ts), and each part plays from its own
// AudioBufferSourceNode started exactly where the one before it ends, on the AudioContext's
// clock. Every stem's parts are placed by their frame index from the same anchor, so the stems
// stay on the same sample, and a join has neither gap nor overlap (so no click). The per-stem
// graph is graph.ts's, as in MixerEngine; once the project is ready, handOff() gives the
// position to a MixerEngine on the same context (useStreamingMixer).
import { Emitter } from "./emitter";
import type { EngineContext, EngineEvents, LoopRegion, MixerEngine } from "./engine";
import { applyMixSettings, buildMixGraph, type MixGraph } from "./graph";
import { clamp, type MixSettings } from "./mixmath";

/** The engine a mixer plays with: the whole stems, or the parts of a song still separating. */
export type MixerPlayer = MixerEngine | StreamingEngine;

export type StreamingContext = EngineContext & Pick<BaseAudioContext, "createBuffer">;

export interface StreamingEvents extends Record<string, unknown> {
  /** More of every stem is playable: `seconds` from the start. */
  available: { seconds: number };
}

interface Part {
  /** Its first frame's index in the stem. */
  start: number;
  buffer: AudioBuffer;
}

/** Lead time so every part is scheduled before the moment it starts (as MixerEngine's). */
export const START_LEAD_SECONDS = 0.03;
/** A part that would start sooner than this from now is too late to join seamlessly. */
const LATE_SECONDS = 0.005;
/** After running dry, play again once this much more is ready (or the rest of the song). */
export const RESUME_AHEAD_SECONDS = 2;
const LIVE_RAMP_SECONDS = 0.015;

/**
 * When and from where a part plays so that the song's position `offset` sounds at context time
 * `startedAt`: null when the part ends before `offset`. Consecutive parts get start times that
 * differ by exactly the earlier part's length (no gap, no overlap).
 */
export function partSchedule(
  partStart: number,
  partFrames: number,
  sampleRate: number,
  offset: number,
  startedAt: number,
): { when: number; offset: number } | null {
  const begins = partStart / sampleRate;
  const ends = (partStart + partFrames) / sampleRate;
  if (ends <= offset) return null;
  if (begins >= offset) return { when: startedAt + (begins - offset), offset: 0 };
  return { when: startedAt, offset: offset - begins };
}

/** Whether waiting playback may go on: enough is ready ahead of the playhead, or all of it is. */
export function canResume(position: number, available: number, duration: number, ahead = RESUME_AHEAD_SECONDS): boolean {
  if (available - position >= ahead) return true;
  return available >= duration - 1e-3 && available - position > 0.05;
}

/** Whether playback at `position` has reached the end of what is ready. */
export function ranDry(position: number, available: number): boolean {
  return available - position < 1e-3;
}

export class StreamingEngine {
  readonly events = new Emitter<EngineEvents>();
  readonly progress = new Emitter<StreamingEvents>();
  /** Loops need the whole song: they come with the full mixer. */
  readonly canLoop = false;
  private readonly graph: MixGraph;
  private readonly stemMeters: Record<string, AnalyserNode> = {};
  private readonly masterMeter: AnalyserNode;
  private readonly parts: Record<string, Part[]> = {};
  private readonly frames: Record<string, number> = {};
  private sources: AudioBufferSourceNode[] = [];
  private playing = false;
  private waitingForMore = false;
  private offset = 0; // position (s) that sounds at startedAt
  private startedAt = 0;
  private settings: MixSettings;
  private watch: ReturnType<typeof setTimeout> | null = null;
  private released = false;
  private meterScratch = new Float32Array(0);

  constructor(
    private readonly ctx: StreamingContext,
    names: readonly string[],
    readonly sampleRate: number,
    settings: MixSettings,
    private songDuration: number | null,
  ) {
    this.masterMeter = ctx.createAnalyser();
    this.masterMeter.fftSize = 1024;
    this.masterMeter.connect(ctx.destination);
    this.graph = buildMixGraph(ctx, names, this.masterMeter);
    for (const name of names) {
      const meter = ctx.createAnalyser();
      meter.fftSize = 1024;
      this.graph.stems[name]!.pan.connect(meter);
      this.stemMeters[name] = meter;
      this.parts[name] = [];
      this.frames[name] = 0;
    }
    this.settings = settings;
    applyMixSettings(this.graph, settings, ctx.currentTime, 0);
  }

  get stemNames(): string[] {
    return Object.keys(this.parts);
  }

  /** Seconds from the start that every stem has. */
  get available(): number {
    const names = this.stemNames;
    return names.length ? Math.min(...names.map((n) => this.frames[n]!)) / this.sampleRate : 0;
  }

  get duration(): number {
    return Math.max(this.songDuration ?? 0, this.available);
  }

  get isComplete(): boolean {
    return false;
  }

  get isPlaying(): boolean {
    return this.playing;
  }

  /** Stopped at the end of what is ready; plays on by itself when more is. */
  get isWaiting(): boolean {
    return this.waitingForMore;
  }

  get currentTime(): number {
    if (!this.playing) return this.offset;
    const position = this.offset + Math.max(0, this.ctx.currentTime - this.startedAt);
    return Math.min(position, this.available);
  }

  get loop(): { region: LoopRegion | null; enabled: boolean } {
    return { region: null, enabled: false };
  }

  /** No loops while separating (see canLoop); the full mixer has them. */
  setLoopRegion(): void {}

  setLoopEnabled(): void {}

  get mix(): MixSettings {
    return this.settings;
  }

  setMix(settings: MixSettings): void {
    this.settings = settings;
    applyMixSettings(this.graph, settings, this.ctx.currentTime, LIVE_RAMP_SECONDS);
  }

  /** The next frames of stem `name` (one Float32Array per channel, at `sampleRate`). */
  append(name: string, channels: Float32Array[]): void {
    const frames = channels[0]?.length ?? 0;
    if (this.released || frames === 0 || !(name in this.parts)) return;
    const before = this.available;
    const buffer = this.ctx.createBuffer(channels.length, frames, this.sampleRate);
    channels.forEach((data, c) => buffer.copyToChannel(data as Float32Array<ArrayBuffer>, c));
    const part = { start: this.frames[name]!, buffer };
    this.parts[name]!.push(part);
    this.frames[name]! += frames;
    if (this.playing) {
      const at = partSchedule(part.start, frames, this.sampleRate, this.offset, this.startedAt);
      if (at && at.when < this.ctx.currentTime + LATE_SECONDS) {
        // The playhead got here first: start again from where it is, now that there is more.
        this.restart(Math.min(this.currentTime, before));
      } else if (at) {
        this.sources.push(this.startPart(name, part, at));
      }
    }
    const available = this.available;
    if (available === before) return;
    this.progress.emit("available", { seconds: available });
    if (this.playing) this.armWatch();
    else if (this.waitingForMore && canResume(this.offset, available, this.duration)) void this.play();
  }

  async play(): Promise<void> {
    if (this.playing || this.released) return;
    if (this.ctx.state === "suspended") await this.ctx.resume();
    if (this.playing || this.released) return;
    const position = this.offset >= this.duration ? 0 : this.offset;
    if (ranDry(position, this.available)) {
      this.offset = position;
      this.wait();
      return;
    }
    this.waitingForMore = false;
    this.startAll(position);
    this.events.emit("play", { position });
  }

  pause(): void {
    const wasWaiting = this.waitingForMore;
    this.waitingForMore = false;
    if (!this.playing) {
      if (wasWaiting) this.events.emit("pause", { position: this.offset });
      return;
    }
    const position = this.currentTime;
    this.stopAll();
    this.offset = position;
    this.events.emit("pause", { position });
  }

  toggle(): Promise<void> {
    if (this.playing || this.waitingForMore) {
      this.pause();
      return Promise.resolve();
    }
    return this.play();
  }

  /** Jump to `position` seconds, within the part that is ready. */
  seek(position: number): void {
    const target = clamp(position, 0, this.available);
    if (this.playing) {
      this.restart(target);
    } else {
      this.offset = target;
      if (this.waitingForMore && canResume(target, this.available, this.duration)) void this.play();
    }
    this.events.emit("seek", { position: target });
  }

  /** Peak level (0..1) of a stem (or of the master with no name) over the last few ms. */
  level(stem?: string): number {
    const meter = stem === undefined ? this.masterMeter : this.stemMeters[stem];
    if (!meter) return 0;
    if (this.meterScratch.length !== meter.fftSize) this.meterScratch = new Float32Array(meter.fftSize);
    meter.getFloatTimeDomainData(this.meterScratch);
    let peak = 0;
    for (const v of this.meterScratch) peak = Math.max(peak, Math.abs(v));
    return peak;
  }

  /**
   * Stops at a moment just ahead and says which position that is and whether to play on from
   * there: the engine that takes over starts its sources at the same moment on the same
   * context. The context stays open (it is the next engine's); this engine is done.
   */
  handOff(): { position: number; resume: boolean } {
    const resume = this.playing || this.waitingForMore;
    let position = this.offset;
    if (this.playing) {
      const when = this.ctx.currentTime + START_LEAD_SECONDS;
      position = Math.min(this.offset + Math.max(0, when - this.startedAt), this.available);
      for (const source of this.sources) {
        source.onended = () => source.disconnect();
        source.stop(when);
      }
      this.sources = [];
      this.playing = false;
    }
    this.release();
    // Our graph goes once its last sources have stopped.
    setTimeout(() => this.masterMeter.disconnect(), (START_LEAD_SECONDS + 0.2) * 1000);
    return { position, resume };
  }

  async dispose(): Promise<void> {
    if (this.released) return;
    this.stopAll();
    this.release();
    if (this.ctx.state !== "closed") await this.ctx.close();
  }

  private release(): void {
    this.released = true;
    this.waitingForMore = false;
    this.clearWatch();
    this.events.clear();
    this.progress.clear();
  }

  private wait(): void {
    this.waitingForMore = true;
    this.events.emit("waiting", { position: this.offset });
  }

  private restart(position: number): void {
    this.stopAll();
    if (ranDry(position, this.available)) {
      this.offset = position;
      this.wait();
      return;
    }
    this.startAll(position);
  }

  private startAll(position: number): void {
    const when = this.ctx.currentTime + START_LEAD_SECONDS;
    this.offset = position;
    this.startedAt = when;
    for (const [name, parts] of Object.entries(this.parts)) {
      for (const part of parts) {
        const at = partSchedule(part.start, part.buffer.length, this.sampleRate, position, when);
        if (at) this.sources.push(this.startPart(name, part, at));
      }
    }
    this.playing = true;
    this.armWatch();
  }

  private startPart(name: string, part: Part, at: { when: number; offset: number }): AudioBufferSourceNode {
    const source = this.ctx.createBufferSource();
    source.buffer = part.buffer;
    source.connect(this.graph.stems[name]!.gain);
    source.onended = () => {
      source.disconnect();
      const i = this.sources.indexOf(source);
      if (i >= 0) this.sources.splice(i, 1);
    };
    source.start(at.when, at.offset);
    return source;
  }

  private stopAll(): void {
    this.clearWatch();
    for (const source of this.sources) {
      source.onended = null;
      try {
        source.stop();
      } catch {
        // not started yet, or already stopped
      }
      source.disconnect();
    }
    this.sources = [];
    this.playing = false;
  }

  /** Checks back when the playhead reaches the end of what is ready. */
  private armWatch(): void {
    this.clearWatch();
    const ahead = this.available - this.currentTime;
    this.watch = setTimeout(() => this.onWatch(), Math.max(0, ahead) * 1000 + 20);
  }

  private onWatch(): void {
    this.watch = null;
    if (!this.playing) return;
    const available = this.available;
    const position = this.offset + Math.max(0, this.ctx.currentTime - this.startedAt);
    if (position < available - 1e-3) {
      this.armWatch();
      return;
    }
    this.stopAll();
    this.offset = available;
    if (available >= (this.songDuration ?? Infinity) - 1e-3) {
      this.events.emit("ended", { position: available });
      return;
    }
    this.wait();
  }

  private clearWatch(): void {
    if (this.watch !== null) clearTimeout(this.watch);
    this.watch = null;
  }
}
