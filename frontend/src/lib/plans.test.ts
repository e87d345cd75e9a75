import { expect, it } from "vitest";
import { apiErrorFrom, errorText } from "./errors";
import { bitrateLockReason, formatLockReason, modelLockReason, planFacts, timeLeft } from "./plans";
import { FREE } from "./plans.test-util";


const NOW = Date.parse("2026-03-01T12:00:00Z");

it.each([
  ["2026-03-02T11:00:00Z", "in 23 h"],
  ["2026-03-31T12:00:00Z", "in 30 days"],
  ["2026-03-30T13:00:00Z", "in 29 days"],
  ["2026-03-01T12:40:00Z", "in 40 min"],
  ["2026-03-03T11:59:00Z", "in 47 h"],
  ["2026-03-01T12:00:30Z", "soon"],
  ["2026-02-01T12:00:30Z", "soon"],
])("time left until %s: %s", (iso, text) => {
  expect(timeLeft(iso, NOW)).toBe(text);
});

it("no expiry: no time left to show", () => {
  expect(timeLeft(null, NOW)).toBeNull();
});

it("says why a Pro option is locked, and locks nothing without a plan or on an all-models plan", () => {
  expect(formatLockReason(FREE, "wav")).toBe("WAV is in Pro: the Free plan exports MP3.");
  expect(formatLockReason(FREE, "mp3")).toBeNull();
  expect(bitrateLockReason(FREE, 320)).toBe("320 kbps is in Pro: the Free plan exports MP3 up to 192 kbps.");
  expect(bitrateLockReason(FREE, 192)).toBeNull();
  expect(modelLockReason(FREE, "htdemucs_ft")).toContain("Not in the Free plan: the models marked (Pro)");
  expect(modelLockReason(FREE, "htdemucs_ft")).toContain("The Free plan has htdemucs, classic");
  expect(modelLockReason(FREE, "classic")).toBeNull();
  expect(modelLockReason({ ...FREE, models: ["*"] }, "anything")).toBeNull();
  expect(modelLockReason(null, "anything")).toBeNull();
  expect(formatLockReason(null, "flac")).toBeNull();
});

it("the plan table in words", () => {
  const facts = Object.fromEntries(planFacts(FREE));
  expect(facts["Uploads a day"]).toBe("3");
  expect(facts["Songs kept for"]).toBe("1 day");
  expect(facts["FLAC stems and ZIP"]).toBe("no");
  expect(Object.fromEntries(planFacts({ ...FREE, uploads_per_day: null, models: ["*"], retention_hours: 720 }))).toMatchObject({
    "Uploads a day": "no limit",
    Models: "all",
    "Songs kept for": "30 days",
  });
});

it("a plan's refusal keeps its fields and says when the limit resets", () => {
  const resets = new Date(Date.now() + 3600_000).toISOString();
  const error = apiErrorFrom(429, {
    detail: "The Free plan allows 3 uploads a day (UTC); today's are used. Pro lifts it: see Account (upgrade).",
    code: "limit_reached",
    limit: "uploads_per_day",
    plan: "free",
    value: 3,
    resets_at: resets,
    upgrade: "Pro lifts it: see Account (upgrade).",
  });
  expect(error).toMatchObject({ status: 429, code: "limit_reached", limit: "uploads_per_day", plan: "free", value: 3, resetsAt: resets, upgrade: "Pro lifts it: see Account (upgrade)." });
  const text = errorText(error);
  expect(text).toMatch(/^You have used today's uploads\. The Free plan allows 3 uploads a day/);
  expect(text).toMatch(/It resets (today|tomorrow) at .+\.$/);
});
