import { describe, expect, it } from "vitest";
import { etaText, formatDurationLimit, statusText, withServerDefault } from "./status";

const base = { progress: 0, eta_seconds: null, queue_position: null, error: null };

describe("statusText", () => {
  it("queued with position and ETA", () => {
    expect(statusText({ ...base, status: "queued", queue_position: 1 })).toBe("Queued, next in line");
    expect(statusText({ ...base, status: "queued", queue_position: 3, eta_seconds: 95 })).toBe("Queued, position 3 in the queue, about 1:35 left");
  });
  it("processing with percent and ETA", () => {
    expect(statusText({ ...base, status: "processing", progress: 42.7, eta_seconds: 30 })).toBe("Separating: 42%, about 0:30 left");
  });
  it("terminal states", () => {
    expect(statusText({ ...base, status: "failed", error: "decoder crashed" })).toBe("Failed: decoder crashed");
    expect(statusText({ ...base, status: "ready" })).toBe("Ready");
    expect(statusText({ ...base, status: "expired" })).toMatch(/Expired/);
  });
  it("no ETA text for unknown or negative", () => {
    expect(etaText(null)).toBe("");
    expect(etaText(-1)).toBe("");
    expect(etaText(0.2)).toBe("almost done");
  });
});


it("formatDurationLimit reads naturally", () => {
  expect(formatDurationLimit(1800)).toBe("30 minutes");
  expect(formatDurationLimit(60)).toBe("1 minute");
  expect(formatDurationLimit(1)).toBe("1 second");
  expect(formatDurationLimit(2.5)).toBe("2.5 seconds");
});

it("withServerDefault offers an unlisted default model first", () => {
  const listed = { name: "htdemucs", description: "", stems: ["a"], installed: false, default: true, quality_sdr_db: null, speed_rtf: null, size_mb: null, low_quality: false, install_hint: "pull" };
  const out = withServerDefault([listed], "demucs_unittest");
  expect(out.map((m) => [m.name, m.installed, m.default])).toEqual([["demucs_unittest", true, true], ["htdemucs", false, false]]);
  expect(withServerDefault([listed], "htdemucs")).toEqual([listed]);
});
