import { expect, it } from "vitest";
import { initialTracks } from "../../audio/mixmath";
import { exportBody } from "./exportBody";

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
