// Words for the model picker: each fact about a model said once.
import { formatBytes } from "../../lib/errors";
import type { ModelInfo } from "../../lib/types";

type Install = NonNullable<ModelInfo["install"]>;

/** Model sizes are written like every other size (MB = 10^6 bytes, as the server). */
export const formatSize = formatBytes;

/** "SDR 9.00 dB: published by Demucs (README), MUSDB18-HQ test set", or why there is none. */
export function qualityText(m: Pick<ModelInfo, "quality_sdr_db" | "quality_source">): string {
  const source = m.quality_source ?? "";
  if (m.quality_sdr_db === null) return source ? `SDR: ${source}` : "";
  return source ? `SDR ${m.quality_sdr_db.toFixed(2)} dB: ${source}` : `SDR ${m.quality_sdr_db.toFixed(2)} dB`;
}

/** The facts under the picker: stems, quality and where its figure comes from, measured speed, size. */
export function modelFacts(m: ModelInfo): string {
  const parts = m.stems.length ? [`${m.stems.length} stems`] : [];
  const quality = qualityText(m);
  if (quality) parts.push(quality);
  if (m.speed_rtf !== null) {
    parts.push(m.speed_rtf < 1 ? "faster than real time here" : `about ${m.speed_rtf.toFixed(1)}× the song's length here`);
  }
  if (m.size_text) parts.push(m.size_text);
  return parts.join(" · ");
}

const PHASES: Record<Install["phase"], string> = {
  starting: "Starting…",
  connecting: "Connecting to the model hub…",
  downloading: "Downloading",
  verifying: "Checking the downloaded model…",
  done: "Installed.",
};

/** "Downloading: 12.3 MB of 84.1 MB (file 2 of 5)" while an install runs. */
export function installProgressText(install: Install): string {
  if (install.phase !== "downloading") return PHASES[install.phase];
  const bytes = install.bytes_total !== null ? `${formatSize(install.bytes_done)} of ${formatSize(install.bytes_total)}` : formatSize(install.bytes_done);
  const files = install.files_total !== null ? ` (file ${Math.min(install.files_done + 1, install.files_total)} of ${install.files_total})` : "";
  return `Downloading: ${bytes}${files}`;
}

/** 0..100 for the progress bar: bytes when their total is known, else files. */
export function installPercent(install: Install): number {
  if (install.state === "installed") return 100;
  if (install.bytes_total) return (100 * install.bytes_done) / install.bytes_total;
  if (install.files_total) return (100 * install.files_done) / install.files_total;
  return 0;
}

/**
 * What a screen reader is told about an install: its phase, and while it downloads only each
 * quarter (the visible text changes twice a second and is not a live region).
 */
export function installAnnouncement(install: Install): string {
  if (install.state === "failed") return ""; // the error is an alert of its own
  if (install.state === "installed") return PHASES.done;
  if (install.phase !== "downloading") return PHASES[install.phase];
  const quarter = Math.floor(Math.min(100, installPercent(install)) / 25) * 25;
  return `Downloading: ${quarter} %`;
}
