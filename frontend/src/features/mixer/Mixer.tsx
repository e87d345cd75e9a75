import { useCallback, useEffect, useMemo, useState } from "react";
import { audibleStems, peakDisplayScale, type TrackState } from "../../audio/mixmath";
import { StreamingEngine, type MixerPlayer } from "../../audio/streaming";
import { DownloadLink } from "../../components/DownloadLink";
import { api } from "../../lib/api";
import { LOSSLESS_LOCKED } from "../../lib/plans";
import { usePlan } from "../../lib/session";
import type { Project } from "../../lib/types";
import { ExportDialog } from "../export/ExportDialog";
import { loadMix, saveMix } from "./mixStorage";
import { NamedMixes } from "./NamedMixes";
import { PracticeControls } from "./PracticeControls";
import { usePractice } from "./usePractice";
import { usePracticeKeys } from "./usePracticeKeys";
import { SeparatingStatus } from "./SeparatingStatus";
import { StemLane } from "./StemLane";
import { Transport } from "./Transport";
import { useMixerKeys } from "./useMixerKeys";

interface Props {
  project: Project;
  /** The whole stems, or (while the song separates) its parts so far; it may change once. */
  engine: MixerPlayer;
  peaks: Record<string, ArrayLike<number>> | null;
}

/**
 * The mixer: React state is the mix; every change is pushed into the engine. While the song
 * still separates the engine plays what is ready; the full engine takes over when it is done.
 */
export function Mixer({ project, engine, peaks }: Props) {
  // The mix with undo (useMixHistory), its sections and loop, and the waveforms' view.
  const practice = usePractice(project, engine, () => ({ ...loadMix(project.id, project.stems.map((s) => s.name)), stems: engine.mix.stems, masterGainDb: engine.mix.masterGainDb }));
  const { mix, setMix, selectLoop } = practice;
  // Known only with a plan (accounts mode, or the owner's): false locks the ZIP with the reason.
  const lossless = usePlan()?.lossless_stems;
  const [playing, setPlaying] = useState(engine.isPlaying);
  const loop = { region: mix.loop, enabled: mix.loopEnabled };
  const [exportOpen, setExportOpen] = useState(false);
  const [complete, setComplete] = useState(engine.isComplete);
  const [waiting, setWaiting] = useState(false);
  const streaming = engine instanceof StreamingEngine ? engine : null;
  // The streaming engine hands over to the full one: take its state (the mix stays ours).
  const [shown, setShown] = useState(engine);
  if (shown !== engine) {
    setShown(engine);
    setPlaying(engine.isPlaying);
    setComplete(engine.isComplete);
    setWaiting(false);
  }

  useEffect(() => {
    engine.setMix(mix);
    saveMix(project.id, mix);
  }, [engine, mix, project.id]);

  useEffect(() => {
    const offs = [
      engine.events.on("play", () => {
        setPlaying(true);
        setWaiting(false);
      }),
      engine.events.on("pause", () => {
        setPlaying(false);
        setWaiting(false);
      }),
      engine.events.on("waiting", () => {
        setPlaying(false);
        setWaiting(true);
      }),
      engine.events.on("complete", () => setComplete(true)),
      engine.events.on("ended", () => setPlaying(false)),
    ];
    return () => offs.forEach((off) => off());
  }, [engine]);

  const updateTrack = useCallback(
    (name: string, patch: Partial<TrackState>) => {
      // A fader or pan drag (or a held arrow key) is one undo step: its moves share a key.
      const key = "gainDb" in patch || "pan" in patch ? `${Object.keys(patch).join()}:${name}` : undefined;
      setMix((m) => ({ ...m, stems: { ...m.stems, [name]: { ...m.stems[name]!, ...patch } } }), key);
    },
    [setMix],
  );

  useMixerKeys(engine, mix, updateTrack, !exportOpen);
  usePracticeKeys(practice.keys, !exportOpen);

  const audible = audibleStems(mix.stems);
  const peakScale = useMemo(() => (peaks ? peakDisplayScale(peaks) : 1), [peaks]);
  return (
    <div className="mixer" data-testid="mixer" data-ready="true" data-mode={streaming ? "progressive" : "full"}>
      <Transport
        engine={engine}
        playing={playing}
        loop={loop.region}
        loopEnabled={loop.enabled}
        masterGainDb={mix.masterGainDb}
        onMasterGain={(masterGainDb) => setMix((m) => ({ ...m, masterGainDb }), "master")}
        onLoopEnabled={(enabled) => setMix((m) => ({ ...m, loopEnabled: enabled && m.loop !== null }))}
        onLoopRegion={selectLoop}
      />
      {practice.bar}
      <PracticeControls project={project} engine={engine} mix={mix} setMix={setMix} />
      {streaming && <SeparatingStatus engine={streaming} project={project} />}
      {!complete && !streaming && (
        <p className="muted small" role="status" data-testid="mixer-buffering">
          {waiting ? "Waiting for the rest of the song to load…" : "Loading the rest of the song; you can play the beginning now."}
        </p>
      )}
      <div className="lanes">
        {project.stems.map((stem) => (
          <StemLane
            key={stem.name}
            stem={stem}
            project={project}
            track={mix.stems[stem.name]!}
            audible={audible.has(stem.name)}
            engine={engine}
            peaks={peaks?.[stem.name] ?? null}
            peakScale={peakScale}
            loop={loop.region}
            loopEnabled={loop.enabled}
            onChange={(patch) => updateTrack(stem.name, patch)}
            onSelectLoop={selectLoop}
            viewProps={practice.waveProps}
          />
        ))}
      </div>
      <div className="practice-panels">
        {practice.sections}
        <NamedMixes
          projectId={project.id}
          stemNames={project.stems.map((s) => s.name)}
          duration={engine.duration}
          mix={mix}
          onOpen={(opened, asStep) => (asStep ? setMix(opened) : practice.replace(opened))}
        />
      </div>
      <div className="mixer-actions">
        {streaming ? (
          <span className="locked-action">
            <button type="button" className="primary locked" aria-disabled="true" aria-describedby="export-later" data-testid="open-export">
              Export mix…
            </button>{" "}
            <span id="export-later" className="muted small">
              Exports and downloads come when the separation is done.
            </span>
          </span>
        ) : (
          <button type="button" className="primary" onClick={() => setExportOpen(true)} data-testid="open-export">
            Export mix…
          </button>
        )}
        {project.stems_zip_url ? (
          <DownloadLink className="button" href={project.stems_zip_url} body={project} refetch={() => api.project(project.id).then((p) => p.stems_zip_url)} download>
            Download all stems (ZIP)
          </DownloadLink>
        ) : (
          lossless === false && !streaming && (
            <span className="locked-action">
              <button type="button" className="locked" aria-disabled="true" aria-describedby="zip-locked" data-testid="zip-locked">
                Download all stems (ZIP) <span className="plan-badge">Pro</span>
              </button>{" "}
              <span id="zip-locked" className="muted small">
                {LOSSLESS_LOCKED}.
              </span>
            </span>
          )
        )}
        <button type="button" onClick={() => setMix((m) => ({ ...m, masterGainDb: 0, stems: Object.fromEntries(Object.keys(m.stems).map((n) => [n, { gainDb: 0, mute: false, solo: false, pan: 0 }])) }))}>
          Reset mix
        </button>
      </div>
      <p className="muted small keys-help">
        Keys: Space play/pause · ←/→ seek 5 s · M mute and S solo the focused stem · Ctrl+Z undo, Ctrl+Shift+Z or Ctrl+Y redo · N add a section · [ / ] previous / next section · L loop the section · + / − zoom · F follow the playhead · double-click a volume or pan slider to reset it.
      </p>
      <ExportDialog
        open={exportOpen}
        projectId={project.id}
        filename={project.filename}
        mix={mix}
        onClose={() => setExportOpen(false)}
        tempo={mix.tempo}
        pitchSemitones={mix.pitchSemitones}
        loop={mix.loop}
        sections={mix.sections}
      />
    </div>
  );
}
