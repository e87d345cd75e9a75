import { useEffect } from "react";
import { ErrorNotice } from "../../components/ErrorNotice";
import { LiveAnnouncement } from "../../components/LiveAnnouncement";
import { ProgressBar } from "../../components/ProgressBar";
import { formatBytes } from "../../lib/errors";
import { href } from "../../lib/router";
import { coarseStatus, progressValue, statusText } from "../../lib/status";
import { useProjectEvents } from "../../lib/useProjectEvents";
import { TERMINAL_STATUSES, type Project } from "../../lib/types";

export interface UploadJob {
  key: string;
  file: File;
  sent: number;
  total: number;
  project: Project | null;
  error: unknown;
  /** Over, as its live progress says (`project` is the upload's answer, not kept up to date). */
  done?: boolean;
}

/**
 * One file: bytes sent, then the separation's live progress (SSE), then a link to the mixer.
 * Once it is over (refused, ready, failed…) it can be dismissed from the list.
 */
export function UploadItem({ job, onDismiss, onDone }: { job: UploadJob; onDismiss?: () => void; onDone?: () => void }) {
  const live = useProjectEvents(job.project?.events_url ?? null, job.project, job.project?.id);
  const project = live ?? job.project;
  const finished = job.error !== null || (project !== null && TERMINAL_STATUSES.includes(project.status));
  useEffect(() => {
    if (finished && !job.done) onDone?.();
  }, [finished, job.done, onDone]);
  return (
    <li className="card upload-item" data-testid="upload-item">
      <div className="row">
        <strong className="filename">{job.file.name}</strong>
        <span className="upload-item-end">
          <span className="muted small">{formatBytes(job.file.size)}</span>
          {finished && onDismiss && (
            <button type="button" className="icon dismiss" onClick={onDismiss} aria-label={`Dismiss ${job.file.name}`} title="Remove from this list">
              <span aria-hidden="true">×</span>
            </button>
          )}
        </span>
      </div>
      {job.error !== null ? (
        <ErrorNotice error={job.error} />
      ) : !project ? (
        <>
          <ProgressBar value={(job.sent / Math.max(1, job.total)) * 100} label={`Uploading ${job.file.name}`} />
          <p className="small">Uploading: {formatBytes(job.sent)} of {formatBytes(job.total)}</p>
        </>
      ) : (
        <>
          <ProgressBar value={progressValue(project)} label={`Separating ${job.file.name}`} valueText={statusText(project)} />
          <p className="small" data-testid="project-status" data-status={project.status}>
            {statusText(project)}
          </p>
          {job.project?.existing && (
            <p className="small" data-testid="upload-existing">
              You already have this song (same file, same options): this is it, not a second copy.
              {project.status !== "ready" && (
                <>
                  {" "}
                  <a href={href({ name: "mixer", projectId: project.id })}>Open it</a>
                </>
              )}
            </p>
          )}
          <LiveAnnouncement text={`${job.file.name}: ${coarseStatus(project)}`} />
          {project.status === "ready" && (
            <a className="button primary" href={href({ name: "mixer", projectId: project.id })}>
              Open in the mixer
            </a>
          )}
        </>
      )}
    </li>
  );
}
