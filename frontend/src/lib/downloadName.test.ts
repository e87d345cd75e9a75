import { describe, expect, it } from "vitest";
import shared from "./downloadName.cases.json";
import { cleanFileName, exportFileName } from "./downloadName";

describe("exportFileName", () => {
  it.each(shared.cases)("$filename as $format is saved as “$name”, as the server names it", ({ filename, format, name }) => {
    expect(exportFileName(filename, format)).toBe(name);
  });
});

describe("cleanFileName", () => {
  it.each(shared.clean)("“$name” is made “$clean”, as the server makes it", ({ name, clean }) => {
    expect(cleanFileName(name)).toBe(clean);
    expect(exportFileName("song.wav", "mp3", name)).toBe(clean ? `${clean}.mp3` : "song - mix.mp3");
  });
});
