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

/** At most this many characters in a name the user gives a download. */
export const MAX_FILE_NAME_CHARS = 100;

/**
 * A name the user typed for a download, made safe as the server makes it
 * (src/isomix/filenames.py `clean_file_name`): path separators, characters Windows refuses,
 * control and separator characters become spaces; runs of spaces one; no spaces or dots at
 * either end; at most 100 characters. "" when nothing is left.
 */
export function cleanFileName(name: string): string {
  const kept = name.replace(/[\p{C}\p{Z}/\\:*?"<>|]/gu, " ");
  const trim = (s: string) => s.replace(/^[ .]+|[ .]+$/g, "");
  const collapsed = trim(kept.replace(/ +/g, " "));
  return trim(Array.from(collapsed).slice(0, MAX_FILE_NAME_CHARS).join(""));
}

/**
 * "1918.mp3" exported as MP3 → "1918 - mix.mp3": what the export's download is saved as;
 * with a name of the user's, that name (made safe) and the format's extension.
 */
export function exportFileName(filename: string, format: string, chosen?: string | null): string {
  const custom = chosen ? cleanFileName(chosen) : "";
  return custom ? `${custom}.${format}` : `${trackName(filename)} - mix.${format}`;
}
