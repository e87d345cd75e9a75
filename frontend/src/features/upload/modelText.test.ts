import { expect, it } from "vitest";
import { formatSize, qualityText } from "./modelText";

it("formatSize writes sizes as the server does (MB = 10^6 bytes)", () => {
  // The cases of tests/unit/test_cli_models.py::test_sizes_are_decimal_megabytes.
  const cases: [number, string][] = [
    [0, "0 B"],
    [999, "999 B"],
    [1000, "1 KB"],
    [999_960, "1 MB"],
    [107_700_000, "107.7 MB"],
    [1_234_000_000, "1.23 GB"],
  ];
  for (const [bytes, text] of cases) expect(formatSize(bytes)).toBe(text);
});

it("qualityText gives the figure with its source, or why there is none", () => {
  expect(qualityText({ quality_sdr_db: 8.11, quality_source: "published by Demucs (MDX 2021 Track B)" })).toBe("SDR 8.11 dB: published by Demucs (MDX 2021 Track B)");
  expect(qualityText({ quality_sdr_db: null, quality_source: "none published by Demucs" })).toBe("SDR: none published by Demucs");
  expect(qualityText({ quality_sdr_db: null, quality_source: null })).toBe("");
});
