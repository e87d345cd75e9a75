// The browser tab's title: what the page is, then the app ("Library — IsoMix Studio").
import { useEffect } from "react";

export const APP_NAME = "IsoMix Studio";

/** "1918.mp3 — Mixer — IsoMix Studio": the parts from the most specific, empty ones left out. */
export function pageTitle(...parts: readonly string[]): string {
  return [...parts.filter((p) => p.trim() !== ""), APP_NAME].join(" — ");
}

/** Sets document.title while the calling page is shown. */
export function useDocumentTitle(...parts: readonly string[]): void {
  const title = pageTitle(...parts);
  useEffect(() => {
    document.title = title;
  }, [title]);
}
