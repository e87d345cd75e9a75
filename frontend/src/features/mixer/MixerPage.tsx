import { useEffect, useState } from "react";
import { ErrorNotice } from "../../components/ErrorNotice";
import { LiveAnnouncement } from "../../components/LiveAnnouncement";
import { ProgressBar } from "../../components/ProgressBar";
import { api } from "../../lib/api";
import { useNotice } from "../../lib/notice";
import { href } from "../../lib/router";
import { progressValue, statusText } from "../../lib/status";
import { useDocumentTitle } from "../../lib/title";
import type { Peaks, Project } from "../../lib/types";
import { useProjectEvents } from "../../lib/useProjectEvents";
import { AnalysisBadge } from "../analysis/AnalysisBadge";
import { useAnalysedProject } from "../analysis/useAnalysedProject";
import { Mixer } from "./Mixer";
import { loadMix } from "./mixStorage";
import { useMixerEngine } from "./useMixerEngine";
import { useStreamingMixer } from "./useStreamingMixer";

export function MixerPage({ projectId }: { projectId: string }) {
  const [initial, setInitial] = useState<Project | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api.project(projectId).then(setInitial, setError);
  }, [projectId]);
  // Not ready yet: follow it live, and open the mixer the moment it is.
  const following = initial && initial.status !== "ready" ? initial.events_url : null;
  const live = useProjectEvents(following, null, projectId);
  const [project, setAnalysed] = useAnalysedProject(live ?? initial);
  const notice = useNotice(projectId);
  // Once part of every stem is final, the mixer plays it while the rest separates; that mixer
  // stays (and takes the whole stems) when the project is ready.
  const [streamedId, setStreamedId] = useState<string | null>(null);
  const streamed = streamedId === projectId;
  if (!streamed && project?.id === projectId && isSeparatingPlayable(project)) setStreamedId(projectId);
  const streaming = streamed && (project?.status === "processing" || project?.status === "ready");
  useDocumentTitle(project?.filename ?? "", "Mixer");

  return (
    <section className="page mixer-page" aria-labelledby="mixer-title">
      <h1 id="mixer-title" className="filename">{project?.filename ?? "Mixer"}</h1>
      {project && <AnalysisBadge project={project} onChange={setAnalysed} />}
      {notice && <MixerNotice text={notice} />}
      {error !== null && <ErrorNotice error={error} />}
      {!project && error === null && <p aria-busy="true">Loading…</p>}
      {project && project.status !== "ready" && !streaming && (
        <div className="card">
          {(project.status === "queued" || project.status === "processing") && (
            <ProgressBar value={progressValue(project)} label="Separation progress" valueText={statusText(project)} />
          )}
          <p>{statusText(project)}</p>
          <LiveAnnouncement text={project.status} />
          <a href={href({ name: "library" })}>Back to the library</a>
        </div>
      )}
      {project && streaming && <StreamingMixer project={project} />}
      {project?.status === "ready" && !streaming && <ReadyMixer project={project} />}
    </section>
  );
}

/**
 * A status region that is in the page before its text: screen readers announce a region's
 * changes, and often say nothing of one that appears with its text already in it.
 */
function MixerNotice({ text }: { text: string }) {
  const [shown, setShown] = useState("");
  useEffect(() => {
    const timer = window.setTimeout(() => setShown(text), NOTICE_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [text]);
  return (
    <p className={shown ? "notice notice-info" : undefined} role="status" data-testid="mixer-notice">
      {shown}
    </p>
  );
}

/** How long the notice's empty region is in the page before its text arrives. */
const NOTICE_DELAY_MS = 100;

/** A processing project with part of every stem final (progressive separation). */
function isSeparatingPlayable(project: Project): boolean {
  return project.status === "processing" && (project.ready_seconds ?? 0) > 0 && project.stems.length > 0;
}

/** The waveform peaks, once the project has them (only pictures: without them, no waveform). */
function usePeaks(peaksUrl: string | null): Peaks | null {
  const [peaks, setPeaks] = useState<Peaks | null>(null);
  useEffect(() => {
    if (!peaksUrl) return;
    api.peaks(peaksUrl).then(setPeaks, () => setPeaks(null));
  }, [peaksUrl]);
  return peaks;
}

function ReadyMixer({ project }: { project: Project }) {
  const peaks = usePeaks(project.peaks_url);
  const load = useMixerEngine(project, () => loadMix(project.id, project.stems.map((s) => s.name)));

  if (load.error !== null) return <ErrorNotice error={load.error} />;
  if (!load.engine) {
    return (
      <div className="card" aria-busy="true">
        <ProgressBar value={(load.decoded / Math.max(1, load.total)) * 100} label="Loading stems" valueText={`${load.decoded} of ${load.total} stems loaded`} />
        <p>
          Loading stems: {load.decoded} of {load.total}
        </p>
      </div>
    );
  }
  return (
    <>
      <LiveAnnouncement text="Mixer ready. Press Space to play." />
      <Mixer project={project} engine={load.engine} peaks={peaks?.stems ?? null} />
    </>
  );
}

/** The mixer of a song that is still separating: it plays what is ready, and all of it once ready. */
function StreamingMixer({ project }: { project: Project }) {
  const peaks = usePeaks(project.peaks_url);
  const load = useStreamingMixer(project, () => loadMix(project.id, project.stems.map((s) => s.name)));
  if (load.fallback) return project.status === "ready" ? <ReadyMixer project={project} /> : null;
  if (load.error !== null) return <ErrorNotice error={load.error} />;
  if (!load.engine) {
    return (
      <div className="card" aria-busy="true">
        <p>Loading the first part of the stems…</p>
      </div>
    );
  }
  return (
    <>
      <LiveAnnouncement text="Mixer ready while the song separates. Press Space to play what is ready." />
      <Mixer project={project} engine={load.engine} peaks={peaks?.stems ?? null} />
    </>
  );
}
