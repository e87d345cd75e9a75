import { useEffect, useRef, useState } from "react";
import { formatTime, type MixSettings } from "../../audio/mixmath";
import { ErrorNotice } from "../../components/ErrorNotice";
import { LiveAnnouncement } from "../../components/LiveAnnouncement";
import { ProgressBar } from "../../components/ProgressBar";
import { api } from "../../lib/api";
import { exportFileName, MAX_FILE_NAME_CHARS } from "../../lib/downloadName";
import { DownloadLink } from "../../components/DownloadLink";
import { bitrateLockReason, formatLockReason } from "../../lib/plans";
import { usePlan } from "../../lib/session";
import { stemLabel } from "../../lib/stemNames";
import type { ExportJob } from "../../lib/types";
import { exportBody, sectionRange, type Format, type TimeRange } from "./exportBody";

const BITRATES = [128, 192, 256, 320] as const;
const POLL_MS = 700;
/** Loudness targets offered (LUFS): streaming services, podcasts, EBU R 128 broadcast. */
export const LOUDNESS_TARGETS = [
  { lufs: -14, label: "−14 LUFS (streaming)" },
  { lufs: -16, label: "−16 LUFS (podcasts)" },
  { lufs: -23, label: "−23 LUFS (broadcast)" },
] as const;

interface Props {
  open: boolean;
  projectId: string;
  filename: string;
  mix: MixSettings;
  onClose: () => void;
  /** The mixer's tempo (0.5–1.5) and pitch (semitones): the export starts from them. */
  tempo?: number;
  pitchSemitones?: number;
  /** The mixer's loop, offered as the part to export. */
  loop?: { start: number; end: number } | null;
  /** The mixer's sections, each offered as the part to export (to the next one's start). */
  sections?: readonly { name: string; start: number }[];
}

type RangeChoice = "song" | "loop" | `section-${number}`;

/** Export the current mix: choose a format, the server renders it, then download. */
export function ExportDialog({ open, projectId, filename, mix, onClose, tempo = 1, pitchSemitones = 0, loop = null, sections = [] }: Props) {
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
  const [tempoPercent, setTempoPercent] = useState(Math.round(tempo * 100));
  const [pitch, setPitch] = useState(pitchSemitones);
  const [rangeChoice, setRangeChoice] = useState<RangeChoice>("song");
  const [excluded, setExcluded] = useState<ReadonlySet<string>>(new Set());
  const [loudness, setLoudness] = useState<number | null>(null);
  const [chosenName, setChosenName] = useState("");
  const stemNames = Object.keys(mix.stems);
  const ordered = [...sections].sort((a, b) => a.start - b.start);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      // A new export each time: the mix may have changed since the last one.
      setJob(null);
      setError(null);
      setTempoPercent(Math.round(tempo * 100));
      setPitch(pitchSemitones);
      setRangeChoice("song");
      setExcluded(new Set());
      dialog.showModal();
    }
    if (!open && dialog.open) dialog.close();
    // The mixer's settings are read when the dialog opens, not followed while it is open.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);

  const range = ((): TimeRange | null => {
    if (rangeChoice === "loop") return loop;
    if (rangeChoice.startsWith("section-")) {
      const section = ordered[Number(rangeChoice.slice("section-".length))];
      return section ? sectionRange(ordered, section.start) : null;
    }
    return null;
  })();
  const included = stemNames.filter((name) => !excluded.has(name));
  const tempoValid = Number.isFinite(tempoPercent) && tempoPercent >= 50 && tempoPercent <= 150;
  const pitchValid = Number.isFinite(pitch) && pitch >= -12 && pitch <= 12;
  const ready = included.length > 0 && tempoValid && pitchValid;
  const changed = <T,>(set: (value: T) => void) => (value: T) => {
    set(value);
    setJob(null);
  };

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
      const options = { tempo: tempoPercent / 100, pitchSemitones: pitch, range, includeStems: included, loudnessLufs: loudness, filename: chosenName };
      setJob(await api.createExport(projectId, exportBody(mix, format, bitrate, bitDepth, options)));
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
  const savedAs = job ? exportFileName(filename, job.format, chosenName) : "";

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
      <p className="muted small">The server renders the mix you hear (gains, mutes, solos, pans, master, tempo and pitch) from the lossless stems.</p>
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
      <fieldset disabled={running || busy}>
        <legend>Tempo and pitch</legend>
        <label className="field">
          Tempo (%)
          <input type="number" min={50} max={150} step={1} value={Number.isFinite(tempoPercent) ? tempoPercent : ""} aria-invalid={!tempoValid} data-testid="export-tempo" onChange={(e) => changed(setTempoPercent)(e.target.valueAsNumber)} />
        </label>
        <label className="field">
          Pitch (semitones)
          <input type="number" min={-12} max={12} step={1} value={Number.isFinite(pitch) ? pitch : ""} aria-invalid={!pitchValid} data-testid="export-pitch" onChange={(e) => changed(setPitch)(e.target.valueAsNumber)} />
        </label>
      </fieldset>
      <fieldset disabled={running || busy} data-testid="export-range">
        <legend>Part of the song</legend>
        <label className="radio">
          <input type="radio" name="export-range" checked={rangeChoice === "song"} onChange={() => changed(setRangeChoice)("song")} />
          Whole song
        </label>
        {loop && (
          <label className="radio">
            <input type="radio" name="export-range" checked={rangeChoice === "loop"} onChange={() => changed(setRangeChoice)("loop")} />
            {`Loop (${formatTime(loop.start, true)}–${formatTime(loop.end, true)})`}
          </label>
        )}
        {ordered.length > 0 && (
          <label className="field">
            Section
            <select
              value={rangeChoice.startsWith("section-") ? rangeChoice : ""}
              data-testid="export-section"
              onChange={(e) => changed(setRangeChoice)((e.target.value || "song") as RangeChoice)}
            >
              <option value="">—</option>
              {ordered.map((section, i) => (
                <option key={`${section.name}-${section.start}`} value={`section-${i}`}>
                  {section.name} ({formatTime(section.start, true)})
                </option>
              ))}
            </select>
          </label>
        )}
      </fieldset>
      <fieldset disabled={running || busy} data-testid="export-stems">
        <legend>Stems</legend>
        {stemNames.map((name) => (
          <label key={name} className="radio">
            <input
              type="checkbox"
              checked={!excluded.has(name)}
              onChange={(e) => {
                const next = new Set(excluded);
                if (e.target.checked) next.delete(name);
                else next.add(name);
                changed(setExcluded)(next);
              }}
            />
            {stemLabel(name)}
          </label>
        ))}
        {included.length === 0 && (
          <p className="muted small" role="status">
            Choose at least one stem.
          </p>
        )}
      </fieldset>
      <fieldset disabled={running || busy}>
        <legend>Loudness and name</legend>
        <label className="field">
          Loudness
          <select value={loudness ?? "off"} data-testid="export-loudness" onChange={(e) => changed(setLoudness)(e.target.value === "off" ? null : Number(e.target.value))}>
            <option value="off">Off (as mixed)</option>
            {LOUDNESS_TARGETS.map((target) => (
              <option key={target.lufs} value={target.lufs}>
                {target.label}
              </option>
            ))}
          </select>
        </label>
        {loudness !== null && <p className="muted small">True peak at most −1 dBTP (a limiter takes louder peaks down).</p>}
        <label className="field">
          File name
          <input
            type="text"
            value={chosenName}
            maxLength={MAX_FILE_NAME_CHARS}
            placeholder={exportFileName(filename, format).replace(/\.[^.]+$/, "")}
            data-testid="export-filename"
            onChange={(e) => changed(setChosenName)(e.target.value)}
          />
        </label>
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
          <button type="button" className="primary" onClick={() => void start()} disabled={running || busy || !ready} data-testid="export-start">
            {running ? "Exporting…" : "Export"}
          </button>
        )}
      </div>
    </dialog>
  );
}
