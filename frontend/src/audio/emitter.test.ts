import { expect, it } from "vitest";
import { Emitter } from "./emitter";

it("on() returns an unsubscribe function", () => {
  const e = new Emitter<{ tick: number }>();
  const got: number[] = [];
  const off = e.on("tick", (n) => got.push(n));
  e.emit("tick", 1);
  off();
  e.emit("tick", 2);
  expect(got).toEqual([1]);
});
