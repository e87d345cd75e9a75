import { describe, expect, it } from "vitest";
import { coarseStatus, progressValue, statusText } from "./status";

const processing = { status: "processing" as const, progress: 0, eta_seconds: null, queue_position: null, error: null };

describe("a processing job's stage", () => {
  it("says what a starting job is doing instead of 0 %", () => {
    expect(statusText({ ...processing, stage: "loading_model" })).toBe("Loading model…");
    expect(statusText({ ...processing, stage: "decoding" })).toBe("Decoding the song…");
    expect(statusText({ ...processing, stage: null })).toBe("Starting…");
    expect(progressValue({ ...processing, stage: "loading_model" })).toBeNull();
    expect(progressValue({ ...processing, stage: "decoding" })).toBeNull();
  });

  it("counts while separating, and says when it writes", () => {
    expect(statusText({ ...processing, stage: "separating", progress: 42.5, eta_seconds: 30 })).toBe("Separating: 42%, about 0:30 left");
    expect(progressValue({ ...processing, stage: "separating", progress: 42.5 })).toBe(42.5);
    expect(statusText({ ...processing, stage: "writing", progress: 97 })).toBe("Writing the stems…");
    expect(progressValue({ ...processing, stage: "writing", progress: 97 })).toBe(97);
  });

  it("a server that sends no stage reads as before", () => {
    expect(statusText({ ...processing, progress: 10 })).toBe("Separating: 10%");
    expect(progressValue({ ...processing, progress: 10 })).toBe(10);
  });

  it("screen readers hear the stage too", () => {
    expect(coarseStatus({ ...processing, stage: "loading_model" })).toBe("loading the model");
    expect(coarseStatus({ ...processing, stage: "separating", progress: 60 })).toBe("separating, 50% done");
  });

  it("other states keep their bars", () => {
    expect(progressValue({ ...processing, status: "ready", progress: 100, stage: null })).toBe(100);
    expect(progressValue({ ...processing, status: "queued", stage: null })).toBe(0);
  });
});
