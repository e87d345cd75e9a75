import { describe, expect, it } from "vitest";
import shared from "./downloadName.cases.json";
import { exportFileName } from "./downloadName";

describe("exportFileName", () => {
  it.each(shared.cases)("$filename as $format is saved as “$name”, as the server names it", ({ filename, format, name }) => {
    expect(exportFileName(filename, format)).toBe(name);
  });
});
