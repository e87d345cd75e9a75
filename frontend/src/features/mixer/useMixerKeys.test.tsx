// @vitest-environment happy-dom
// The mixer's global keys never take a key the focused control uses itself.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { MixerEngine } from "../../audio/engine";
import { initialTracks, type MixSettings } from "../../audio/mixmath";
import { ownsKey, useMixerKeys } from "./useMixerKeys";

const engine = { toggle: vi.fn(async () => {}), seek: vi.fn(), currentTime: 10 };
const updateTrack = vi.fn();
const mix: MixSettings = { stems: initialTracks(["vocals"]), masterGainDb: 0 };

function Harness() {
  useMixerKeys(engine as unknown as MixerEngine, mix, updateTrack, true);
  return (
    <div data-stem="vocals" tabIndex={0} data-testid="lane">
      <button type="button" data-testid="mute">M</button>
      <a href="#/x" data-testid="link">x</a>
      <input type="checkbox" data-testid="check" />
      <input type="range" data-testid="range" />
      <input type="text" data-testid="text" />
      <input type="radio" data-testid="radio" />
      <select data-testid="select"><option>a</option></select>
      <details><summary data-testid="summary">more</summary></details>
    </div>
  );
}

let root: Root;
let container: HTMLElement;

beforeEach(async () => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  engine.toggle.mockClear();
  engine.seek.mockClear();
  updateTrack.mockClear();
  container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
  await act(async () => root.render(<Harness />));
});

afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
});

/** Focuses a test element and presses a key on it as the browser would: keydown on the focus. */
function press(testId: string, key: string): KeyboardEvent {
  const el = container.querySelector<HTMLElement>(`[data-testid="${testId}"]`)!;
  el.focus();
  const event = new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true });
  el.dispatchEvent(event);
  return event;
}

describe("global mixer keys", () => {
  it("Space and Enter on a focused button, checkbox or summary press it, not play", () => {
    for (const id of ["mute", "check", "summary"]) {
      for (const key of [" ", "Enter"]) {
        const event = press(id, key);
        expect(event.defaultPrevented, `${key} on ${id}`).toBe(false);
      }
    }
    expect(engine.toggle).not.toHaveBeenCalled();
  });

  it("a link keeps Enter; Space on it plays", () => {
    expect(press("link", "Enter").defaultPrevented).toBe(false);
    expect(engine.toggle).not.toHaveBeenCalled();
    expect(press("link", " ").defaultPrevented).toBe(true);
    expect(engine.toggle).toHaveBeenCalledTimes(1);
  });

  it("a control focused by a click leaves Space to the mixer (Chrome calls it :focus-visible once a key is down)", () => {
    const solo = container.querySelector<HTMLElement>('[data-testid="mute"]')!;
    solo.dispatchEvent(new MouseEvent("mousedown", { bubbles: true }));
    solo.focus();
    expect(press("mute", " ").defaultPrevented).toBe(true);
    expect(engine.toggle).toHaveBeenCalledTimes(1);
    // Reached by the keyboard afterwards (Tab away and back): it keeps its keys again.
    container.querySelector<HTMLElement>('[data-testid="lane"]')!.focus();
    expect(press("mute", " ").defaultPrevented).toBe(false);
    expect(engine.toggle).toHaveBeenCalledTimes(1);
  });

  it("a control focused by a mouse click (not :focus-visible) leaves Space and Enter to the mixer", () => {
    for (const id of ["mute", "check", "summary"]) {
      const el = container.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;
      const matches = el.matches.bind(el);
      vi.spyOn(el, "matches").mockImplementation((selector: string) => selector !== ":focus-visible" && matches(selector));
    }
    for (const id of ["mute", "check", "summary"]) expect(press(id, " ").defaultPrevented, `Space on ${id}`).toBe(true);
    expect(engine.toggle).toHaveBeenCalledTimes(3);
  });

  it("arrows on a slider or a radio move it, not the playhead", () => {
    for (const id of ["range", "radio"]) for (const key of ["ArrowLeft", "ArrowRight"]) press(id, key);
    expect(engine.seek).not.toHaveBeenCalled();
  });

  it("typing in a field or a menu types", () => {
    for (const id of ["text", "select"]) for (const key of [" ", "m", "s", "ArrowLeft"]) press(id, key);
    expect(engine.toggle).not.toHaveBeenCalled();
    expect(engine.seek).not.toHaveBeenCalled();
    expect(updateTrack).not.toHaveBeenCalled();
  });

  it("elsewhere Space plays (without scrolling) and arrows seek; M and S reach the focused lane", () => {
    expect(press("lane", " ").defaultPrevented).toBe(true);
    expect(engine.toggle).toHaveBeenCalledTimes(1);
    press("lane", "ArrowRight");
    expect(engine.seek).toHaveBeenCalledWith(15);
    press("mute", "ArrowLeft"); // a button has no use for arrows
    expect(engine.seek).toHaveBeenLastCalledWith(5);
    press("mute", "m");
    expect(updateTrack).toHaveBeenCalledWith("vocals", { mute: true });
  });
});

describe("ownsKey", () => {
  it("a role=button or role=slider element keeps its keys too", () => {
    const fake = document.createElement("div");
    fake.setAttribute("role", "button");
    document.body.append(fake);
    fake.tabIndex = 0;
    fake.focus();
    expect(ownsKey(fake, " ")).toBe(true);
    expect(ownsKey(fake, "ArrowLeft")).toBe(false);
    fake.setAttribute("role", "link");
    expect(ownsKey(fake, "Enter")).toBe(true);
    expect(ownsKey(fake, " ")).toBe(false);
    fake.setAttribute("role", "slider");
    expect(ownsKey(fake, "ArrowLeft")).toBe(true);
    expect(ownsKey(fake, " ")).toBe(false);
    expect(ownsKey(null, " ")).toBe(false);
    fake.remove();
  });
});
