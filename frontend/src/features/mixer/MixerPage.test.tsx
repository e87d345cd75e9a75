// @vitest-environment happy-dom
// What the ready mixer shows: stems by name in words, sliders named for their stem with a
// readable value, a help text that holds, the song in the tab's title.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeContext } from "../../audio/fakeContext.test-util";
import { api } from "../../lib/api";
import type { Project } from "../../lib/types";
import { MixerPage } from "./MixerPage";

vi.mock("../../lib/api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../../lib/api")>();
  return { ...actual, api: { ...actual.api, project: vi.fn() } };
});

const KARAOKE: Project = {
  id: "p1",
  filename: "1918.mp3",
  status: "ready",
  progress: 100,
  eta_seconds: null,
  queue_position: null,
  model: "demucs_unittest",
  two_stems: "vocals",
  shifts: 1,
  duration_seconds: 3,
  ready_seconds: null,
  error: null,
  stems: [
    { name: "vocals", color: "#e4572e", url: "/s/v.flac", preview_url: "/s/v.mp3" },
    { name: "no_vocals", color: "#8d99ae", url: "/s/nv.flac", preview_url: "/s/nv.mp3" },
  ],
  events_url: "/e",
  peaks_url: null,
  stems_zip_url: null,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  expires_at: null,
  existing: false,
};

class DecodingContext extends FakeContext {
  sampleRate = 44100;
  async decodeAudioData(): Promise<AudioBuffer> {
    return { duration: 3, length: 3 * 44100, sampleRate: 44100, numberOfChannels: 2 } as unknown as AudioBuffer;
  }
}

let root: Root | null = null;
let container: HTMLElement;

async function renderMixer(): Promise<void> {
  vi.mocked(api.project).mockResolvedValue(KARAOKE);
  container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
  await act(async () => root!.render(<MixerPage projectId="p1" />));
  for (let i = 0; i < 50 && !container.querySelector('[data-testid="mixer"]'); i++) {
    await act(async () => new Promise((r) => setTimeout(r, 0)));
  }
  expect(container.querySelector('[data-testid="mixer"]')).not.toBeNull();
}

const slider = (name: string) => container.querySelector<HTMLInputElement>(`input[type=range][aria-label="${name}"]`)!;

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  localStorage.clear();
  vi.stubGlobal("AudioContext", DecodingContext);
  vi.stubGlobal("fetch", async () => new Response(new Uint8Array(64)));
});

afterEach(async () => {
  if (root) await act(async () => root!.unmount());
  root = null;
  container.remove();
  vi.unstubAllGlobals();
});

describe("the mixer", () => {
  it("calls the karaoke lanes Vocals and Instrumental, never by their ids", async () => {
    await renderMixer();
    const lanes = [...container.querySelectorAll<HTMLElement>('[role="group"][data-stem]')];
    expect(lanes.map((l) => [l.dataset.stem, l.getAttribute("aria-label")])).toEqual([
      ["vocals", "Vocals stem"],
      ["no_vocals", "Instrumental stem"],
    ]);
    expect(lanes[1]!.querySelector(".lane-name")?.textContent).toBe("Instrumental");
    expect(container.textContent).not.toContain("no_vocals");
    expect(container.querySelector('[aria-label="Mute Instrumental"]')).not.toBeNull();
  });

  it("names each lane's sliders for its stem and shows their values in words", async () => {
    await renderMixer();
    for (const name of ["Vocals", "Instrumental"]) {
      const volume = slider(`${name} volume`);
      const pan = slider(`${name} pan`);
      expect(volume.getAttribute("aria-valuetext")).toBe("0 dB");
      expect(pan.getAttribute("aria-valuetext")).toBe("centre");
      expect(volume.closest("label")?.textContent).toBe("Vol0 dB");
      expect(pan.closest("label")?.textContent).toBe("PanCentre");
    }
  });

  it("double-click resets every slider the help text promises it for", async () => {
    await renderMixer();
    const help = container.querySelector(".keys-help")!.textContent!;
    expect(help).toContain("double-click a volume or pan slider to reset it");
    const sliders = [...container.querySelectorAll<HTMLInputElement>("input[type=range]")];
    const promised = sliders.filter((s) => /( volume| pan)$/.test(s.getAttribute("aria-label") ?? ""));
    expect(promised.map((s) => s.getAttribute("aria-label"))).toEqual(["Master volume", "Click volume", "Click pan", "Vocals volume", "Vocals pan", "Instrumental volume", "Instrumental pan"]);
    // The rest (the position, tempo and pitch, the waveforms' scroll) are not volume or pan sliders: the text promises nothing for them.
    expect(sliders.filter((s) => !promised.includes(s)).map((s) => s.getAttribute("aria-label") ?? s.closest("label")?.textContent)).toEqual(["Position", "Waveform scroll", "Tempo", "Pitch"]);
    for (const s of promised) {
      const before = s.getAttribute("aria-valuetext");
      const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!;
      await act(async () => {
        setter.call(s, String(Number(s.min) + 1));
        s.dispatchEvent(new Event("input", { bubbles: true }));
      });
      expect(s.getAttribute("aria-valuetext")).not.toBe(before);
      await act(async () => s.dispatchEvent(new MouseEvent("dblclick", { bubbles: true })));
      expect(s.getAttribute("aria-valuetext"), s.getAttribute("aria-label")!).toBe(before);
    }
  });

  it("undoes a fader drag as one step, and a section with its loop, by button and by Ctrl+Z", async () => {
    await renderMixer();
    const button = (name: string) => [...container.querySelectorAll("button")].find((b) => b.textContent === name)!;
    const volume = slider("Vocals volume");
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!;
    for (const value of ["300", "400", "500"]) {
      await act(async () => {
        setter.call(volume, value);
        volume.dispatchEvent(new Event("input", { bubbles: true }));
      });
    }
    const dragged = volume.getAttribute("aria-valuetext");
    expect(dragged).not.toBe("0 dB");
    await act(async () => document.dispatchEvent(new PointerEvent("pointerup")));
    await act(async () => button("Add section").click());
    expect(container.querySelectorAll('[data-testid="section-row"]')).toHaveLength(1);
    await act(async () => container.querySelector<HTMLButtonElement>('button[aria-label^="Loop Section 1"]')!.click());
    expect(button("Loop 0:00–0:03").getAttribute("aria-pressed")).toBe("true");

    await act(async () => document.body.dispatchEvent(new KeyboardEvent("keydown", { key: "z", ctrlKey: true, bubbles: true })));
    const transportLoop = container.querySelector<HTMLButtonElement>(".loop-controls button.toggle")!;
    expect([transportLoop.textContent, transportLoop.getAttribute("aria-pressed")]).toEqual(["Loop", "false"]); // the loop is gone
    expect(container.querySelectorAll('[data-testid="section-row"]')).toHaveLength(1);
    await act(async () => button("Undo").click());
    expect(container.querySelectorAll('[data-testid="section-row"]')).toHaveLength(0);
    await act(async () => button("Undo").click());
    expect(volume.getAttribute("aria-valuetext")).toBe("0 dB"); // the whole drag, in one step
    expect(button("Undo").disabled).toBe(true);
    await act(async () => button("Redo").click());
    expect(volume.getAttribute("aria-valuetext")).toBe(dragged);
  });

  it("puts the song in the tab's title", async () => {
    await renderMixer();
    expect(document.title).toBe("1918.mp3 — Mixer — IsoMix Studio");
  });
});
