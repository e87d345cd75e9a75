import { expect, it } from "vitest";
import { practiceAction } from "./usePracticeKeys";

const key = (k: string, mods: Partial<Record<"ctrlKey" | "metaKey" | "altKey" | "shiftKey", boolean>> = {}) =>
  practiceAction({ key: k, ctrlKey: false, metaKey: false, altKey: false, shiftKey: false, ...mods });

it("maps undo and redo on Ctrl and Cmd, and the practice keys without them", () => {
  expect(key("z", { ctrlKey: true })).toBe("undo");
  expect(key("z", { metaKey: true })).toBe("undo");
  expect(key("Z", { ctrlKey: true, shiftKey: true })).toBe("redo");
  expect(key("y", { ctrlKey: true })).toBe("redo");
  expect(key("z")).toBeNull();
  expect(key("n", { ctrlKey: true })).toBeNull(); // Ctrl+N is the browser's
  expect(key("z", { ctrlKey: true, altKey: true })).toBeNull();
  expect([key("N"), key("["), key("]"), key("l"), key("+"), key("="), key("-"), key("f")]).toEqual([
    "addSection",
    "previousSection",
    "nextSection",
    "loopSection",
    "zoomIn",
    "zoomIn",
    "zoomOut",
    "toggleFollow",
  ]);
  expect(key("m")).toBeNull(); // the mixer's own (mute)
});
