// The one place a stem's API name (its id: "vocals", "no_vocals", "guitar_2") becomes the words
// the page shows and screen readers say. The id itself stays the key everywhere else.

/** Names that read better than their ids spelled out. */
const SPECIAL: Readonly<Record<string, string>> = {
  // What a karaoke split leaves when the vocals are taken out.
  no_vocals: "Instrumental",
};

function words(id: string): string {
  const text = id.replace(/[_-]+/g, " ").replace(/\s+/g, " ").trim();
  return text ? text[0]!.toUpperCase() + text.slice(1) : id;
}

/** "vocals" → "Vocals", "no_vocals" → "Instrumental", "no_drums" → "No drums", "lead_guitar" → "Lead guitar". */
export function stemLabel(id: string): string {
  const special = SPECIAL[id];
  if (special) return special;
  const without = /^no_(.+)$/.exec(id);
  if (without) return `No ${words(without[1]!).toLowerCase()}`;
  return words(id);
}
