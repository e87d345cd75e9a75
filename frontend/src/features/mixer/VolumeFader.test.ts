import { expect, it } from "vitest";
import { keyStepDb } from "./VolumeFader";

it("keys move the fader in even dB steps, out of the 0 dB snap, within range", () => {
  expect(keyStepDb("ArrowUp", false, 0)).toBe(0.5);
  expect(keyStepDb("ArrowLeft", false, 0)).toBe(-0.5);
  expect(keyStepDb("ArrowDown", true, -1)).toBe(-4);
  expect(keyStepDb("PageUp", false, 10)).toBe(12);
  expect(keyStepDb("Home", false, 0)).toBe(-60);
  expect(keyStepDb("End", false, 0)).toBe(12);
  expect(keyStepDb("a", false, 0)).toBeNull();
});
