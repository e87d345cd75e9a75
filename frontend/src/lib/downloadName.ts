// The name a download is saved as. The server decides it (its Content-Disposition, built in
// src/isomix/api/downloads.py); the page shows the same name before anyone clicks, so this
// mirrors the server's rule, and downloadName.cases.json holds the cases both sides are tested
// against (downloadName.test.ts here, tests/api/test_download_names.py there).

/** An extension the server strips: 1 to 5 letters or digits (Python's str.isalnum). */
const EXTENSION = /^[\p{L}\p{N}]{1,5}$/u;

/** The user's file name without its extension, as the server's `track_name`. */
export function trackName(filename: string): string {
  const dot = filename.lastIndexOf(".");
  if (dot <= 0) return filename;
  const extension = filename.slice(dot + 1);
  return EXTENSION.test(extension) ? filename.slice(0, dot) : filename;
}

/** "1918.mp3" exported as MP3 → "1918 - mix.mp3": what the export's download is saved as. */
export function exportFileName(filename: string, format: string): string {
  return `${trackName(filename)} - mix.${format}`;
}
