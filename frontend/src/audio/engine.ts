// The mixer's audio engine: one AudioContext, one AudioBufferSourceNode per stem, all started
// with the same start(when, offset) so they never drift. No React here; see useMixerEngine.
//
// Tempo and pitch (practice tools): every source plays at playbackRate = tempo, set on all of
// them at the same context time, so the stems stay on the same sample at any tempo, and their
// positions, loop points and offsets stay in song seconds. That moves the pitch too; one
// Signalsmith Stretch node after the stems' sum (after each stem's gain and pan, so mix moves
// stay live) shifts it back and by the user's semitones (practice.ts stretchSemitones). At
// 100 % and 0 semitones the stretch is out of the graph. The clock (currentTime) is the song
// position being heard: the stretch's latency is taken into account. The click track plays the
// analysis' beats in song time (clicks scheduled ahead on the context clock), the count-in
// plays before playback starts and, with a loop, before each pass.
import { Emitter } from "./emitter";
import {
  applyClickSettings,
  applyMixSettings,
  buildClickChain,
  buildMixGraph,
  DEFAULT_CLICK,
  insertBetweenBusAndMaster,
  makeClickBuffer,
  type ClickChain,
  type ClickSettings,
  type MixGraph,
} from "./graph";
import { clamp, type MixSettings } from "./mixmath";
import {
  beatsPerBar,
  clampPitch,
  clampTempo,
  clicksInWindow,
  countInClicks,
  isNeutral,
  MAX_COUNT_IN_BARS,
  runEndsAt,
  runPosition,
  stretchSemitones,
  type Click,
  type Run,
} from "./practice";
import type { StretchFactory, StretchUnit } from "./stretchNode";

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
  /** Tempo, pitch, click or count-in changed (`stretchReady`: the stretch is loaded, or not needed). */
  practice: PracticeState;
}

/** The beat grid the click and the count-in follow (the project's `analysis`). */
export interface BeatGrid {
  bpm: number;
  beats: number[];
  downbeats: number[];
}

export interface PracticeState {
  tempo: number;
  pitch: number;
  click: ClickSettings;
  countInBars: number;
  stretchReady: boolean;
}

export interface EngineOptions {
  /** The song's length when `buffers` hold only its beginning (see replaceBuffers). */
  duration?: number;
  /** False while `buffers` hold only the beginning of each stem. */
  complete?: boolean;
  /** Loads the stretch (stretchNode.ts loadStretch); without it tempo and pitch stay at 1 and 0. */
  stretch?: StretchFactory;
}

/** The slice of AudioContext the engine uses (lets tests pass a fake). */
export type EngineContext = Pick<
  AudioContext,
  | "createGain"
  | "createStereoPanner"
  | "createBufferSource"
  | "createAnalyser"
  | "createBuffer"
  | "destination"
  | "sampleRate"
  | "currentTime"
  | "state"
  | "resume"
  | "suspend"
  | "close"
>;

// A little lead time so every source is scheduled before the moment they all start.
const START_LEAD_SECONDS = 0.03;
const LIVE_RAMP_SECONDS = 0.015;
// Clicks and loop passes are scheduled this far ahead, every TICK_MS (a hidden tab's timers run
// about once a second: the lookahead covers that).
const LOOKAHEAD_SECONDS = 1.5;
const TICK_MS = 200;

export class MixerEngine {
  readonly events = new Emitter<EngineEvents>();
  private songDuration: number;
  private complete: boolean;
  private resumeWhenComplete = false;
  private readonly graph: MixGraph;
  private readonly clickChain: ClickChain;
  private readonly stemMeters: Record<string, AnalyserNode> = {};
  private readonly masterMeter: AnalyserNode;
  private sources: AudioBufferSourceNode[] = [];
  private playing = false;
  private offset = 0; // position (s) while paused
  /** What is being heard while playing: the last run whose `from` has come is the current one. */
  private runs: Run[] = [];
  /** Loop passes are started one by one (by tick) when a count-in plays before each. */
  private passMode = false;
  private loopRegion: LoopRegion | null = null;
  private loopEnabled = false;
  private settings: MixSettings;
  private generation = 0; // ignores onended from sources we stopped on purpose
  private disposed = false;
  private meterScratch = new Float32Array(0); // reused: meters are read every frame
  // Practice tools: what was asked, and what plays (the stretch may still be loading).
  private tempo = 1;
  private pitch = 0;
  private playTempo = 1;
  private stretch: StretchUnit | null = null;
  private stretchLoading: Promise<void> | null = null;
  private engaged = false;
  private click: ClickSettings = { ...DEFAULT_CLICK };
  private countInBars = 0;
  private grid: BeatGrid | null = null;
  private clickBuffers: { beat: AudioBuffer; accent: AudioBuffer } | null = null;
  private clicks: { node: AudioBufferSourceNode; time: number }[] = [];
  private clickHorizon = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly ctx: EngineContext,
    private buffers: Record<string, AudioBuffer>,
    settings: MixSettings,
    private readonly options: EngineOptions = {},
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
    this.clickChain = buildClickChain(ctx, this.graph.master);
    applyClickSettings(this.clickChain, this.click, ctx.currentTime, 0);
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

  /** Whether tempo and pitch can change (the stretch can be loaded). */
  get canStretch(): boolean {
    return this.options.stretch !== undefined;
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
      const position = this.sourcePositionAt(when);
      const old = this.sources;
      this.generation++;
      for (const source of old) {
        source.onended = () => source.disconnect();
        source.stop(when);
      }
      this.sources = [];
      this.cancelClicksFrom(this.ctx.currentTime);
      this.startSources(position, { at: when });
    } else if (this.resumeWhenComplete) {
      this.resumeWhenComplete = false;
      void this.play();
    }
    this.events.emit("complete", { position: this.currentTime });
  }

  get stemNames(): string[] {
    return Object.keys(this.buffers);
  }

  /** The song position being heard (song seconds, whatever the tempo). */
  get currentTime(): number {
    if (!this.playing) return this.offset;
    const now = this.ctx.currentTime;
    return runPosition(this.runAt(now), now);
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

  get practice(): PracticeState {
    return {
      tempo: this.tempo,
      pitch: this.pitch,
      click: { ...this.click },
      countInBars: this.countInBars,
      stretchReady: isNeutral(this.tempo, this.pitch) || this.stretch !== null,
    };
  }

  /** Tempo factor (0.5–1.5) for all stems together, without a change of pitch. */
  setTempo(factor: number): void {
    const tempo = this.canStretch ? clampTempo(factor) : 1;
    if (tempo === this.tempo) return;
    this.tempo = tempo;
    this.applyStretch();
  }

  /** Pitch in semitones (−12…+12) for all stems together, without a change of tempo. */
  setPitch(semitones: number): void {
    const pitch = this.canStretch ? clampPitch(semitones) : 0;
    if (pitch === this.pitch) return;
    this.pitch = pitch;
    this.applyStretch();
  }

  /** The click track's volume, mute and pan, like a stem's. */
  setClick(click: Partial<ClickSettings>): void {
    this.click = { ...this.click, ...click, pan: clamp(click.pan ?? this.click.pan, -1, 1) };
    applyClickSettings(this.clickChain, this.click, this.ctx.currentTime, LIVE_RAMP_SECONDS);
    this.emitPractice();
  }

  /** Bars of clicks before playback starts and before each loop pass (0: none). */
  setCountIn(bars: number): void {
    this.countInBars = clamp(Math.round(Number.isFinite(bars) ? bars : 0), 0, MAX_COUNT_IN_BARS);
    this.emitPractice();
  }

  /** The beats the click plays (null: no analysis, no click and no count-in). */
  setBeatGrid(grid: BeatGrid | null): void {
    this.grid = grid && grid.bpm > 0 ? { bpm: grid.bpm, beats: [...grid.beats].sort((a, b) => a - b), downbeats: grid.downbeats } : null;
    if (this.playing) {
      const now = this.ctx.currentTime;
      this.cancelClicksFrom(now);
      this.clickHorizon = now;
      this.tick();
    }
  }

  async play(): Promise<void> {
    if (this.playing || this.disposed) return;
    if (this.ctx.state === "suspended") await this.ctx.resume();
    if (this.playing || this.disposed) return;
    let position = this.offset >= this.duration ? 0 : this.offset;
    const loop = this.activeLoop();
    if (loop && (position < loop.start || position >= loop.end)) position = loop.start;
    this.startSources(position, { countIn: true });
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

  /** Jump to `position` song seconds; playing continues from there (sources are recreated). */
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
    this.stretch?.dispose();
    this.events.clear();
    if (this.ctx.state !== "closed") await this.ctx.close();
  }

  /** Seconds between the sources and what is heard: the stretch's, while it is in the graph. */
  private get latency(): number {
    return this.engaged && this.stretch ? this.stretch.latency : 0;
  }

  private activeLoop(): LoopRegion | null {
    return this.loopEnabled ? this.loopRegion : null;
  }

  private runAt(now: number): Run {
    let current = this.runs[0]!;
    for (const run of this.runs) if (run.from <= now) current = run;
    return current;
  }

  /** The song position the sources play at context time `when` (heard a latency later). */
  private sourcePositionAt(when: number): number {
    const at = when + this.latency;
    return runPosition(this.runAt(at), at);
  }

  private emitPractice(): void {
    this.events.emit("practice", this.practice);
  }

  /** Puts tempo and pitch into the graph: the stretch in or out, the sources' rate, its shift. */
  private applyStretch(): void {
    const needed = !isNeutral(this.tempo, this.pitch);
    if (needed && !this.stretch) {
      this.emitPractice();
      const factory = this.options.stretch;
      if (!factory || this.stretchLoading) return;
      this.stretchLoading = factory(this.ctx as unknown as BaseAudioContext).then(
        (unit) => {
          if (this.disposed) {
            unit.dispose();
            return;
          }
          this.stretch = unit;
          this.applyStretch();
        },
        () => {
          // No AudioWorklet or no WASM here: tempo and pitch stay as the song is.
          this.tempo = 1;
          this.pitch = 0;
          this.emitPractice();
        },
      );
      return;
    }
    const semitones = stretchSemitones(this.tempo, this.pitch);
    if (needed !== this.engaged) {
      // In or out of the graph: the latency changes, so playback restarts where it is heard.
      const position = this.playing ? this.currentTime : this.offset;
      const wasPlaying = this.playing;
      if (wasPlaying) this.stopSources();
      insertBetweenBusAndMaster(this.graph, needed ? this.stretch!.node : null, this.engaged ? this.stretch!.node : null);
      this.engaged = needed;
      this.playTempo = this.tempo;
      if (needed) void this.stretch!.setSemitones(semitones, this.ctx.currentTime);
      if (wasPlaying) this.startSources(position);
      this.emitPractice();
      return;
    }
    if (!needed) {
      this.emitPractice();
      return;
    }
    const when = this.ctx.currentTime + START_LEAD_SECONDS;
    void this.stretch!.setSemitones(semitones, when);
    if (this.tempo !== this.playTempo) {
      if (this.playing && !this.passMode) {
        // Live: every source changes rate at the same context time; a new run from then on.
        const position = this.sourcePositionAt(when);
        for (const source of this.sources) source.playbackRate.setValueAtTime(this.tempo, when);
        const heard = when + this.latency;
        const last = this.runs[this.runs.length - 1]!;
        this.cancelClicksFrom(heard);
        this.runs = [...this.runs.filter((r) => r.from < heard), { ...last, from: heard, at: heard, offset: position, tempo: this.tempo }];
        this.clickHorizon = heard;
        this.playTempo = this.tempo;
        this.tick();
      } else if (this.playing) {
        const position = this.currentTime;
        this.stopSources();
        this.playTempo = this.tempo;
        this.startSources(position);
      } else {
        this.playTempo = this.tempo;
      }
    }
    this.emitPractice();
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

  /** Count-in: seconds of context time, and its clicks' spacing; 0 without a beat grid. */
  private countIn(): { seconds: number; beat: number; perBar: number } {
    if (!this.grid || this.countInBars === 0) return { seconds: 0, beat: 0, perBar: 0 };
    const beat = 60 / this.grid.bpm / this.playTempo;
    const perBar = beatsPerBar(this.grid.beats, this.grid.downbeats);
    return { seconds: this.countInBars * perBar * beat, beat, perBar };
  }

  private startSources(position: number, opts: { at?: number; countIn?: boolean } = {}): void {
    const now = this.ctx.currentTime;
    const lead = opts.at ?? now + START_LEAD_SECONDS;
    const latency = this.latency;
    const loop = this.activeLoop();
    const count = opts.countIn ? this.countIn() : { seconds: 0, beat: 0, perBar: 0 };
    // With a count-in before each loop pass, passes are started one by one (tick).
    this.passMode = loop !== null && this.countIn().seconds > 0;
    const when = lead + count.seconds;
    const generation = ++this.generation;
    const sources = this.createSources(loop && !this.passMode ? loop : null);
    // Every source gets the same (when, offset): they start on the same sample frame.
    const length = this.passMode && loop ? loop.end - position : undefined;
    for (const source of sources) source.start(when, position, length);
    this.sources.push(...sources);
    const first = sources[0];
    if (first && !this.passMode) {
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
        this.stopSources();
        this.offset = this.duration;
        this.events.emit("ended", { position: this.duration });
      };
    }
    const heard = when + latency;
    this.runs = [{ from: now, at: heard, offset: position, tempo: this.playTempo, loop: this.passMode ? null : loop, end: this.passMode && loop ? loop.end : this.duration }];
    if (count.seconds > 0) {
      for (const c of countInClicks(lead + latency, this.countInBars, count.perBar, count.beat)) this.scheduleClick(c, true);
    }
    this.offset = position;
    this.playing = true;
    this.clickHorizon = now;
    this.tick();
  }

  private createSources(loop: LoopRegion | null): AudioBufferSourceNode[] {
    return Object.entries(this.buffers).map(([name, buffer]) => {
      const source = this.ctx.createBufferSource();
      source.buffer = buffer;
      source.playbackRate.value = this.playTempo;
      if (loop) {
        source.loop = true;
        source.loopStart = loop.start;
        source.loopEnd = loop.end;
      }
      source.connect(this.graph.stems[name]!.gain);
      return source;
    });
  }

  /** Schedules what is due within the lookahead: the next loop pass (with its count-in), clicks. */
  private tick(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (!this.playing || this.disposed) return;
    const now = this.ctx.currentTime;
    const until = now + LOOKAHEAD_SECONDS;
    const loop = this.activeLoop();
    const last = this.runs[this.runs.length - 1]!;
    if (this.passMode && loop) {
      const endsAt = runEndsAt(last);
      if (endsAt <= until) {
        const count = this.countIn();
        const latency = this.latency;
        const when = endsAt - latency + count.seconds;
        const sources = this.createSources(null);
        for (const source of sources) {
          source.onended = () => {
            source.disconnect();
            const i = this.sources.indexOf(source);
            if (i >= 0) this.sources.splice(i, 1);
          };
          source.start(Math.max(when, now), loop.start, loop.end - loop.start);
        }
        this.sources.push(...sources);
        for (const c of countInClicks(endsAt, this.countInBars, count.perBar, count.beat)) this.scheduleClick(c, true);
        this.runs.push({ from: endsAt, at: when + latency, offset: loop.start, tempo: this.playTempo, loop: null, end: loop.end });
      }
    }
    if (this.grid) {
      for (let i = 0; i < this.runs.length; i++) {
        const run = this.runs[i]!;
        const t0 = Math.max(this.clickHorizon, run.from);
        const t1 = Math.min(until, this.runs[i + 1]?.from ?? until);
        if (t1 > t0) for (const c of clicksInWindow(run, this.grid.beats, this.grid.downbeats, t0, t1)) this.scheduleClick(c, false);
      }
    }
    this.clickHorizon = until;
    // Runs that are over (a later one has begun) are dropped.
    while (this.runs.length > 1 && this.runs[1]!.from <= now) this.runs.shift();
    this.clicks = this.clicks.filter((c) => c.time > now - 1);
    this.timer = setTimeout(() => this.tick(), TICK_MS);
  }

  private scheduleClick(click: Click, countIn: boolean): void {
    this.clickBuffers ??= { beat: makeClickBuffer(this.ctx, false), accent: makeClickBuffer(this.ctx, true) };
    const node = this.ctx.createBufferSource();
    node.buffer = click.accent ? this.clickBuffers.accent : this.clickBuffers.beat;
    node.connect(countIn ? this.clickChain.countIn : this.clickChain.beat);
    node.onended = () => node.disconnect();
    node.start(Math.max(click.time, this.ctx.currentTime));
    this.clicks.push({ node, time: click.time });
  }

  private cancelClicksFrom(time: number): void {
    this.clicks = this.clicks.filter((c) => {
      if (c.time < time) return true;
      try {
        c.node.stop();
      } catch {
        // not started yet
      }
      c.node.disconnect();
      return false;
    });
  }

  private stopSources(): void {
    this.generation++;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
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
    this.cancelClicksFrom(-Infinity);
    this.runs = [];
    this.passMode = false;
    this.playing = false;
  }
}

function maxDuration(buffers: Record<string, AudioBuffer>): number {
  return Math.max(0, ...Object.values(buffers).map((b) => b.duration));
}
