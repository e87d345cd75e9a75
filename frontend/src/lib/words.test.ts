import { expect, it } from "vitest";
import { inWords } from "./words";

it("lists read as a sentence", () => {
  expect(inWords([])).toBe("");
  expect(inWords(["MP3"])).toBe("MP3");
  expect(inWords(["MP3", "WAV"])).toBe("MP3 or WAV");
  expect(inWords(["MP3", "WAV", "FLAC"])).toBe("MP3, WAV or FLAC");
});
