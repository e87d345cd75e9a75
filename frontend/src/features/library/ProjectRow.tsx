import { formatTime } from "../../audio/mixmath";
import { ProgressBar } from "../../components/ProgressBar";
import { href } from "../../lib/router";
import { formatDateTime, progressValue, statusText } from "../../lib/status";
import { timeLeft } from "../../lib/plans";
import type { Project } from "../../lib/types";
import { analysisText } from "../analysis/analysis";

interface Props {
  project: Project;
  onCancel: () => void;
  onRetry: () => void;
  onDelete: () => void;
}

export function ProjectRow({ project: p, onCancel, onRetry, onDelete }: Props) {
  const moving = p.status === "queued" || p.status === "processing";
  const stems = p.two_stems ? "2 stems" : p.stems.length ? `${p.stems.length} stems` : "";
  return (
    <li className="card project-row" data-testid="project-row" data-status={p.status}>
      <div className="row">
        <strong className="filename">
          {p.status === "ready" ? <a href={href({ name: "mixer", projectId: p.id })}>{p.filename}</a> : p.filename}
        </strong>
        <span className={`badge badge-${p.status}`}>{p.status}</span>
      </div>
      {moving && <ProgressBar value={progressValue(p)} label={`Progress of ${p.filename}`} valueText={statusText(p)} />}
      {p.status !== "ready" && <p className="small">{statusText(p)}</p>}
      <dl className="meta small">
        <div>
          <dt>Duration</dt>
          <dd>{p.duration_seconds !== null ? formatTime(p.duration_seconds) : "–"}</dd>
        </div>
        <div>
          <dt>Model</dt>
          <dd>
            {p.model}
            {stems && ` (${stems})`}
          </dd>
        </div>
        {p.analysis && (
          <div>
            <dt>Tempo and key</dt>
            <dd data-testid="analysis">{analysisText(p.analysis)}</dd>
          </div>
        )}
        <div>
          <dt>Created</dt>
          <dd>{formatDateTime(p.created_at)}</dd>
        </div>
        <div>
          <dt>Expires</dt>
          <dd data-testid="expires">
            {p.expires_at ? <time dateTime={p.expires_at} title={formatDateTime(p.expires_at)}>{timeLeft(p.expires_at)}</time> : "never"}
          </dd>
        </div>
      </dl>
      <div className="actions">
        {p.status === "ready" && (
          <a className="button primary" href={href({ name: "mixer", projectId: p.id })} aria-label={`Open ${p.filename} in the mixer`}>
            Open
          </a>
        )}
        {moving && (
          <button type="button" onClick={onCancel} aria-label={`Cancel ${p.filename}`}>
            Cancel
          </button>
        )}
        {(p.status === "failed" || p.status === "cancelled") && (
          <button type="button" onClick={onRetry} aria-label={`Retry ${p.filename}`}>
            Retry
          </button>
        )}
        <button type="button" className="danger" onClick={onDelete} aria-label={`Delete ${p.filename}`}>
          Delete
        </button>
      </div>
    </li>
  );
}
