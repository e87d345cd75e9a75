// Lists in words, as the server writes them in its messages (audio/formats.py `_in_words`).

/** ["MP3"] → "MP3"; ["MP3", "WAV", "FLAC"] → "MP3, WAV or FLAC". */
export function inWords(names: readonly string[]): string {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}
