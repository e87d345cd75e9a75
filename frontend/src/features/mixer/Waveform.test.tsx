// @vitest-environment happy-dom
// Click seeks, drag selects a loop, in song seconds from where the pointer is over the canvas.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { Waveform } from "./Waveform";

let root: Root;
let container: HTMLElement;
const onSeek = vi.fn();
const onSelectLoop = vi.fn();

beforeEach(async () => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  onSeek.mockReset();
  onSelectLoop.mockReset();
  Element.prototype.setPointerCapture ??= () => {};
  container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
  await act(async () =>
    root.render(
      <Waveform peaks={null} scale={1} color="#fff" duration={100} currentTime={() => 0} loop={null} loopEnabled={false} onSeek={onSeek} onSelectLoop={onSelectLoop} />,
    ),
  );
  // The canvas spans x = 100..300 on screen: 2 px per second of the 100 s song.
  vi.spyOn(container.querySelector("canvas")!, "getBoundingClientRect").mockReturnValue({ left: 100, width: 200 } as DOMRect);
});

afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
});

async function pointer(type: string, clientX: number): Promise<void> {
  const wave = container.querySelector(".waveform")!;
  await act(async () => {
    wave.dispatchEvent(new PointerEvent(type, { bubbles: true, button: 0, clientX, pointerId: 1 }));
  });
}

it("a click seeks to the time under the pointer", async () => {
  await pointer("pointerdown", 200);
  await pointer("pointerup", 201);
  expect(onSeek).toHaveBeenCalledWith(50.5); // where it was released
  expect(onSelectLoop).not.toHaveBeenCalled();
});

it("a drag shows the region while dragging and selects it as the loop, either way round", async () => {
  await pointer("pointerdown", 250);
  await pointer("pointermove", 150);
  const region = container.querySelector<HTMLElement>(".loop-region")!;
  expect([region.style.left, region.style.width]).toEqual(["25%", "50%"]);
  await pointer("pointerup", 150);
  expect(onSelectLoop).toHaveBeenCalledWith({ start: 25, end: 75 });
  expect(onSeek).not.toHaveBeenCalled();
  expect(container.querySelector(".loop-region")).toBeNull();
});
