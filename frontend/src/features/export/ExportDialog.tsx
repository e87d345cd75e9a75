import { useEffect, useRef, useState } from "react";
import type { MixSettings } from "../../audio/mixmath";
import { ErrorNotice } from "../../components/ErrorNotice";
import { LiveAnnouncement } from "../../components/LiveAnnouncement";
import { ProgressBar } from "../../components/ProgressBar";
import { api } from "../../lib/api";
import { exportFileName } from "../../lib/downloadName";
import { DownloadLink } from "../../components/DownloadLink";
import { bitrateLockReason, formatLockReason } from "../../lib/plans";
import { usePlan } from "../../lib/session";
import type { ExportJob } from "../../lib/types";
import { exportBody, type Format } from "./exportBody";

const BITRATES = [128, 192, 256, 320] as const;
const POLL_MS = 700;

interface Props {
  open: boolean;
  projectId: string;
  filename: string;
  mix: MixSettings;
  onClose: () => void;
}

/** Export the current mix: choose a format, the server renders it, then download. */
export function ExportDialog({ open, projectId, filename, mix, onClose }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const plan = usePlan();
  const [chosenFormat, setFormat] = useState<Format>("mp3");
  const [chosenBitrate, setBitrate] = useState<number>(320);
  // What the plan allows (Pro-only choices are shown, locked, with the reason).
  const format = formatLockReason(plan, chosenFormat) ? "mp3" : chosenFormat;
  const bitrate = bitrateLockReason(plan, chosenBitrate) ? (BITRATES.filter((b) => !bitrateLockReason(plan, b)).at(-1) ?? chosenBitrate) : chosenBitrate;
  const formatLocks = (["wav", "flac"] as const).map((f) => formatLockReason(plan, f)).filter((r): r is string => r !== null);
  const bitrateLock = BITRATES.map((b) => bitrateLockReason(plan, b)).find((r) => r !== null) ?? null;
  const [bitDepth, setBitDepth] = useState<16 | 24>(24);
  const [job, setJob] = useState<ExportJob | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      // A new export each time: the mix may have changed since the last one.
      setJob(null);
      setError(null);
      dialog.showModal();
    }
    if (!open && dialog.open) dialog.close();
  }, [open]);

  // Poll the export until it is ready or failed.
  useEffect(() => {
    if (!job || job.status === "ready" || job.status === "failed") return;
    const timer = window.setTimeout(() => {
      api.exportJob(job.id).then(setJob, setError);
    }, POLL_MS);
    return () => window.clearTimeout(timer);
  }, [job]);

  const start = async () => {
    setError(null);
    setJob(null);
    setBusy(true);
    try {
      setJob(await api.createExport(projectId, exportBody(mix, format, bitrate, bitDepth)));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const running = job !== null && (job.status === "queued" || job.status === "processing");
  // The link the server gave for this export (it may be signed): never one made up here.
  const downloadUrl = job?.status === "ready" ? job.download_url : null;
  // The name the server's Content-Disposition gives the file: shown, and asked for.
  const savedAs = job ? exportFileName(filename, job.format) : "";

  return (
    <dialog
      ref={ref}
      className="dialog export-dialog"
      aria-labelledby="export-title"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <h2 id="export-title">Export your mix</h2>
      <p className="muted small">The server renders the mix you hear (gains, mutes, solos, pans, master) from the lossless stems.</p>
      <fieldset disabled={running || busy}>
        <legend>Format</legend>
        {(["mp3", "wav", "flac"] as const).map((f) => {
          const locked = formatLockReason(plan, f);
          return (
            <label key={f} className={locked ? "radio locked" : "radio"}>
              <input type="radio" name="format" value={f} checked={format === f} disabled={locked !== null} aria-describedby={locked ? "export-format-locked" : undefined} onChange={() => {
                  setFormat(f);
                  setJob(null);
                }} />
              {f.toUpperCase()}
              {locked && <span className="plan-badge">Pro</span>}
            </label>
          );
        })}
        {formatLocks.length > 0 && (
          <p id="export-format-locked" className="muted small" data-testid="export-format-locked">
            {formatLocks.join(" ")}
          </p>
        )}
        {format === "mp3" && (
          <label className="field">
            Bitrate
            <select value={bitrate} onChange={(e) => {
                setBitrate(Number(e.target.value));
                setJob(null);
              }}>
              {BITRATES.map((b) => (
                <option key={b} value={b} disabled={bitrateLockReason(plan, b) !== null}>
                  {b} kbps{bitrateLockReason(plan, b) ? " (Pro)" : ""}
                </option>
              ))}
            </select>
          </label>
        )}
        {format === "mp3" && bitrateLock && (
          <p className="muted small" data-testid="export-bitrate-locked">
            {`Bitrates above ${plan!.max_mp3_kbps} kbps are in Pro: the ${plan!.title} plan exports MP3 up to ${plan!.max_mp3_kbps} kbps.`}
          </p>
        )}
        {format === "wav" && (
          <label className="field">
            Bit depth
            <select value={bitDepth} onChange={(e) => {
                setBitDepth(Number(e.target.value) as 16 | 24);
                setJob(null);
              }}>
              <option value={16}>16-bit</option>
              <option value={24}>24-bit</option>
            </select>
          </label>
        )}
      </fieldset>
      {error !== null && <ErrorNotice error={error} />}
      {job && (
        <div className="export-status" data-testid="export-status" data-status={job.status}>
          <ProgressBar value={job.status === "ready" ? 100 : job.progress} label="Export progress" />
          <LiveAnnouncement text={job.status === "ready" ? `Export ready to download: ${savedAs}` : job.status === "failed" ? `Export failed: ${job.error ?? ""}` : "Exporting"} />
          {job.status === "ready" && (
            <p className="export-ready" data-testid="export-ready">
              <span aria-hidden="true">✓ </span>Ready: <span className="filename">{savedAs}</span>
            </p>
          )}
          {job.status === "failed" && <p className="notice notice-error">Export failed{job.error ? `: ${job.error}` : "."}</p>}
        </div>
      )}
      <div className="dialog-actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
        {downloadUrl ? (
          <DownloadLink
            className="button primary"
            href={downloadUrl}
            body={job!}
            refetch={() => api.exportJob(job!.id).then((fresh) => fresh.download_url ?? null)}
            download={savedAs}
            data-testid="export-download"
          >
            Download {job!.format.toUpperCase()}
          </DownloadLink>
        ) : (
          <button type="button" className="primary" onClick={() => void start()} disabled={running || busy} data-testid="export-start">
            {running ? "Exporting…" : "Export"}
          </button>
        )}
      </div>
    </dialog>
  );
}
