// @vitest-environment happy-dom
// A zoomed waveform: clicks and drags in the seconds shown, Ctrl+wheel and a pinch zoom around
// the pointer, a sideways wheel scrolls, markers and the loop drawn where they are in view.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { Waveform } from "./Waveform";

let root: Root;
let container: HTMLElement;
const onSeek = vi.fn();
const onSelectLoop = vi.fn();
const onZoom = vi.fn();
const onScroll = vi.fn();

beforeEach(async () => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  for (const f of [onSeek, onSelectLoop, onZoom, onScroll]) f.mockReset();
  Element.prototype.setPointerCapture ??= () => {};
  container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
  await act(async () =>
    root.render(
      <Waveform
        peaks={null}
        scale={1}
        color="#fff"
        duration={100}
        currentTime={() => 0}
        loop={{ start: 30, end: 35 }}
        loopEnabled
        onSeek={onSeek}
        onSelectLoop={onSelectLoop}
        view={{ start: 20, span: 20 }}
        onZoom={onZoom}
        onScroll={onScroll}
        markers={[10, 25]}
      />,
    ),
  );
  // 200 px on screen from x = 100 show seconds 20..40: 10 px per second.
  const rect = { left: 100, width: 200 } as DOMRect;
  vi.spyOn(container.querySelector("canvas")!, "getBoundingClientRect").mockReturnValue(rect);
  vi.spyOn(container.querySelector(".waveform")!, "getBoundingClientRect").mockReturnValue(rect);
});

afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
});

const wave = () => container.querySelector(".waveform")!;
async function pointer(type: string, clientX: number, pointerId = 1, pointerType = "mouse"): Promise<void> {
  await act(async () => {
    wave().dispatchEvent(new PointerEvent(type, { bubbles: true, button: 0, clientX, pointerId, pointerType }));
  });
}

it("seeks and selects loops in the seconds shown", async () => {
  await pointer("pointerdown", 150);
  await pointer("pointerup", 150);
  expect(onSeek).toHaveBeenCalledWith(25);
  await pointer("pointerdown", 120);
  await pointer("pointerup", 220);
  expect(onSelectLoop).toHaveBeenCalledWith({ start: 22, end: 32 });
});

it("draws the loop and the markers in view only", () => {
  const region = container.querySelector<HTMLElement>(".loop-region")!;
  expect([region.style.left, region.style.width]).toEqual(["50%", "25%"]);
  const markers = [...container.querySelectorAll<HTMLElement>(".section-marker")];
  expect(markers.map((m) => m.style.left)).toEqual(["25%"]);
});

/** A wheel event (happy-dom's WheelEvent leaves out the mouse fields: set them here). */
function wheel(init: { deltaX?: number; deltaY?: number; ctrlKey?: boolean; clientX: number }): WheelEvent {
  const e = new WheelEvent("wheel", { deltaX: init.deltaX ?? 0, deltaY: init.deltaY ?? 0, bubbles: true, cancelable: true });
  Object.defineProperties(e, { ctrlKey: { value: init.ctrlKey ?? false }, metaKey: { value: false }, shiftKey: { value: false }, clientX: { value: init.clientX } });
  return e;
}

it("zooms with Ctrl+wheel around the pointer and scrolls with a sideways wheel", async () => {
  await act(async () => {
    wave().dispatchEvent(wheel({ deltaY: -100, ctrlKey: true, clientX: 150 }));
  });
  expect(onZoom).toHaveBeenCalledWith(1.5, 25);
  const sideways = wheel({ deltaX: 50, clientX: 150 });
  await act(async () => void wave().dispatchEvent(sideways));
  expect(onScroll).toHaveBeenCalledWith(5); // 50 px of 200 px showing 20 s
  expect(sideways.defaultPrevented).toBe(true);
  const down = wheel({ deltaY: 50, clientX: 150 });
  await act(async () => void wave().dispatchEvent(down));
  expect(down.defaultPrevented).toBe(false); // up and down scroll the page
  expect(onScroll).toHaveBeenCalledTimes(1);
});

it("a two-finger pinch zooms and neither seeks nor selects a loop", async () => {
  await pointer("pointerdown", 140, 1, "touch");
  await pointer("pointerdown", 160, 2, "touch");
  await pointer("pointermove", 120, 1, "touch"); // 20 px apart, now 60 px: three times as close
  await pointer("pointermove", 180, 2, "touch");
  expect(onZoom.mock.calls.map(([f]) => f)).toEqual([2, 1.5]);
  expect(onZoom.mock.calls[1]![1]).toBeCloseTo(25);
  await pointer("pointerup", 120, 1, "touch");
  await pointer("pointerup", 180, 2, "touch");
  expect(onSeek).not.toHaveBeenCalled();
  expect(onSelectLoop).not.toHaveBeenCalled();
});
