import { expect, it } from "vitest";
import { pageTitle } from "./title";

it("titles name the view, then the app, most specific first", () => {
  expect(pageTitle("Upload")).toBe("Upload — IsoMix Studio");
  expect(pageTitle("Library")).toBe("Library — IsoMix Studio");
  expect(pageTitle("1918.mp3", "Mixer")).toBe("1918.mp3 — Mixer — IsoMix Studio");
  expect(pageTitle("", "Mixer")).toBe("Mixer — IsoMix Studio"); // the song not loaded yet
});
