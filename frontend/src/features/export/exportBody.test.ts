import { expect, it } from "vitest";
import { initialTracks } from "../../audio/mixmath";
import { exportBody, sectionRange } from "./exportBody";

const mix = { stems: initialTracks(["vocals", "no_vocals"]), masterGainDb: -3 };

it("mp3 carries the bitrate only", () => {
  const body = exportBody(mix, "mp3", 192, 24);
  expect(body).toMatchObject({ format: "mp3", bitrate: 192, bit_depth: null, master_gain_db: -3 });
  expect(Object.keys(body.stems!)).toEqual(["vocals", "no_vocals"]);
});

it("wav carries the bit depth only; flac neither", () => {
  expect(exportBody(mix, "wav", 320, 16)).toMatchObject({ bitrate: null, bit_depth: 16 });
  expect(exportBody(mix, "flac", 320, 24)).toMatchObject({ bitrate: null, bit_depth: null });
});

it("the practice options left at their defaults send the server's defaults", () => {
  expect(exportBody(mix, "mp3", 192, 24)).toMatchObject({
    tempo: 1,
    pitch_semitones: 0,
    start_seconds: null,
    end_seconds: null,
    include_stems: null,
    loudness_lufs: null,
    filename: null,
  });
  // Every stem chosen is no restriction at all; a blank name is no name.
  expect(exportBody(mix, "mp3", 192, 24, { includeStems: ["no_vocals", "vocals"], filename: "  " })).toMatchObject({ include_stems: null, filename: null });
});

it("carries tempo, pitch, range, stems, loudness and the file name", () => {
  const body = exportBody(mix, "wav", 192, 24, {
    tempo: 0.75,
    pitchSemitones: -2,
    range: { start: 12.5, end: 20 },
    includeStems: ["vocals"],
    loudnessLufs: -14,
    filename: " Chorus slow ",
  });
  expect(body).toMatchObject({ tempo: 0.75, pitch_semitones: -2, start_seconds: 12.5, end_seconds: 20, include_stems: ["vocals"], loudness_lufs: -14, filename: "Chorus slow" });
  // A range from the very start sends no start; one to the end sends no end.
  expect(exportBody(mix, "wav", 192, 24, { range: { start: 0, end: null } })).toMatchObject({ start_seconds: null, end_seconds: null });
});

it("a section runs to the next section's start, the last one to the end", () => {
  const sections = [{ start: 30 }, { start: 0 }, { start: 12.5 }];
  expect(sectionRange(sections, 0)).toEqual({ start: 0, end: 12.5 });
  expect(sectionRange(sections, 12.5)).toEqual({ start: 12.5, end: 30 });
  expect(sectionRange(sections, 30)).toEqual({ start: 30, end: null });
});
