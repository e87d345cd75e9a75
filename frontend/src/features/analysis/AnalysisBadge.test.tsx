// @vitest-environment happy-dom
// Tempo and key in the mixer: shown, corrected (halve, double, typed, key), reset, refused;
// and the analysis that arrives after the project is ready is fetched and shown.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../lib/errors";
import type { Project } from "../../lib/types";
import { type Analysis, correctAnalysis, fetchProject, formatBpm, KEY_NAMES, parseBpm, scaledBpm } from "./analysis";
import { AnalysisBadge } from "./AnalysisBadge";
import { useAnalysedProject } from "./useAnalysedProject";

vi.mock("./analysis", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./analysis")>();
  return { ...actual, correctAnalysis: vi.fn(), fetchProject: vi.fn() };
});

const ANALYSIS: Analysis = {
  bpm: 127.98,
  bpm_detected: 127.98,
  key: "A minor",
  key_detected: "A minor",
  key_confidence: 0.42,
  beats: [0.5, 0.97, 1.44],
  downbeats: [0.5],
  corrected: false,
};

const project = (analysis: Analysis | null, updatedAt = "2026-01-01T00:00:00Z"): Project => ({
  id: "p1",
  filename: "song.mp3",
  status: "ready",
  progress: 100,
  eta_seconds: null,
  queue_position: null,
  model: "htdemucs",
  two_stems: null,
  shifts: 1,
  duration_seconds: 3,
  ready_seconds: 3,
  error: null,
  stems: [],
  events_url: "/e",
  peaks_url: null,
  stems_zip_url: null,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: updatedAt,
  expires_at: null,
  existing: false,
  analysis,
});

let root: Root;
let container: HTMLElement;
const onChange = vi.fn<(p: Project) => void>();

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  vi.mocked(correctAnalysis).mockReset();
  vi.mocked(fetchProject).mockReset();
  onChange.mockReset();
  container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
});

afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
  vi.useRealTimers();
});

const byLabel = <T extends Element>(label: string) => container.querySelector<T>(`[aria-label="${label}"]`);
const button = (name: string) => [...container.querySelectorAll("button")].find((b) => b.textContent === name)!;

async function renderBadge(analysis: Analysis | null): Promise<void> {
  await act(async () => root.render(<AnalysisBadge project={project(analysis)} onChange={onChange} />));
}

async function openEditor(): Promise<void> {
  await act(async () => button("Correct").click());
}

describe("the badge", () => {
  it("shows the tempo and key and opens the corrections from a labelled button", async () => {
    await renderBadge(ANALYSIS);
    expect(container.querySelector('[data-testid="analysis-text"]')!.textContent).toBe("128 BPM, A minor");
    expect(container.querySelector('[role="group"]')!.getAttribute("aria-label")).toBe("Tempo and key");
    const toggle = button("Correct");
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    await openEditor();
    expect(button("Done").getAttribute("aria-expanded")).toBe("true");
    expect(container.textContent).toContain("Detected: 128 BPM, A minor (42 % sure of the key)");
    expect(container.querySelector<HTMLSelectElement>("select")!.labels![0]!.textContent).toBe("Key");
    expect(container.querySelector<HTMLInputElement>("input[type=number]")!.labels![0]!.textContent).toBe("BPM");
  });

  it("halves and doubles the tempo", async () => {
    vi.mocked(correctAnalysis).mockResolvedValue(project({ ...ANALYSIS, bpm: 63.99, corrected: true }));
    await renderBadge(ANALYSIS);
    await openEditor();
    await act(async () => byLabel<HTMLButtonElement>("Halve the tempo to 64 BPM")!.click());
    expect(correctAnalysis).toHaveBeenLastCalledWith("p1", { bpm: 63.99 });
    expect(onChange).toHaveBeenCalledOnce();
    expect(onChange.mock.calls[0]![0].analysis!.bpm).toBe(63.99);
    await act(async () => byLabel<HTMLButtonElement>("Double the tempo to 256 BPM")!.click());
    expect(correctAnalysis).toHaveBeenLastCalledWith("p1", { bpm: 255.96 });
  });

  it("sets a typed tempo only when it is in range", async () => {
    vi.mocked(correctAnalysis).mockResolvedValue(project(ANALYSIS));
    await renderBadge(ANALYSIS);
    await openEditor();
    const input = container.querySelector<HTMLInputElement>("input[type=number]")!;
    const type = async (value: string) =>
      act(async () => {
        const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!;
        setter.call(input, value);
        input.dispatchEvent(new Event("input", { bubbles: true }));
      });
    await type("301");
    expect(button("Set BPM").disabled).toBe(true);
    expect(input.getAttribute("aria-invalid")).toBe("true");
    await type("96.5");
    expect(button("Set BPM").disabled).toBe(false);
    await act(async () => input.form!.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true })));
    expect(correctAnalysis).toHaveBeenCalledWith("p1", { bpm: 96.5 });
  });

  it("picks a key and resets to the detected values", async () => {
    vi.mocked(correctAnalysis).mockResolvedValue(project(ANALYSIS));
    await renderBadge({ ...ANALYSIS, key: "C major", corrected: true });
    expect(container.textContent).toContain("(corrected)");
    await openEditor();
    const select = container.querySelector<HTMLSelectElement>("select")!;
    expect(select.options).toHaveLength(24);
    expect(select.value).toBe("C major");
    expect([...select.options].find((o) => o.value === "A minor")!.textContent).toBe("A minor (detected)");
    await act(async () => {
      select.value = "F# major";
      select.dispatchEvent(new Event("change", { bubbles: true }));
    });
    expect(correctAnalysis).toHaveBeenLastCalledWith("p1", { key: "F# major" });
    await act(async () => button("Reset to detected").click());
    expect(correctAnalysis).toHaveBeenLastCalledWith("p1", { bpm: null, key: null });
  });

  it("cannot reset what was not corrected, and says why a correction was refused", async () => {
    vi.mocked(correctAnalysis).mockRejectedValue(new ApiError(409, "conflict", "This project's stems have not been analysed yet."));
    await renderBadge(ANALYSIS);
    await openEditor();
    expect(button("Reset to detected").disabled).toBe(true);
    await act(async () => byLabel<HTMLButtonElement>("Halve the tempo to 64 BPM")!.click());
    expect(container.querySelector('[role="alert"]')!.textContent).toContain("not been analysed yet");
    expect(onChange).not.toHaveBeenCalled();
  });

  it("says when there is no analysis", async () => {
    await renderBadge(null);
    expect(container.textContent).toBe("Tempo and key: not analysed");
    expect(container.querySelector("button")).toBeNull();
  });
});

describe("the numbers", () => {
  it("formats, parses and scales within 20-300 BPM", () => {
    expect([formatBpm(127.98), formatBpm(97.35), formatBpm(64)]).toEqual(["128", "97.4", "64"]);
    expect([parseBpm("120"), parseBpm(" 96,5 "), parseBpm("19.9"), parseBpm("300.1"), parseBpm(""), parseBpm("x")]).toEqual([120, 96.5, null, null, null, null]);
    expect([scaledBpm(128, 0.5), scaledBpm(170, 2), scaledBpm(30, 0.5)]).toEqual([64, null, null]);
    expect(KEY_NAMES).toHaveLength(24);
    expect(KEY_NAMES[1]).toBe("C# major");
    expect(KEY_NAMES[23]).toBe("B minor");
  });
});

describe("the analysis that comes after ready", () => {
  function Probe({ p }: { p: Project }) {
    const [shown] = useAnalysedProject(p);
    return <span data-testid="probe">{shown?.analysis ? `${shown.analysis.bpm} ${shown.analysis.key}` : "none"}</span>;
  }
  const probe = () => container.querySelector('[data-testid="probe"]')!.textContent;

  it("asks again every two seconds for a project that just became ready", async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-01-01T00:00:05Z"));
    vi.mocked(fetchProject).mockResolvedValueOnce(project(null, "2026-01-01T00:00:00Z")).mockResolvedValue(project(ANALYSIS, "2026-01-01T00:00:06Z"));
    await act(async () => root.render(<Probe p={project(null, "2026-01-01T00:00:00Z")} />));
    expect(probe()).toBe("none");
    await act(async () => vi.advanceTimersByTimeAsync(2000));
    expect(fetchProject).toHaveBeenCalledTimes(1);
    expect(probe()).toBe("none");
    await act(async () => vi.advanceTimersByTimeAsync(2000));
    expect(probe()).toBe("127.98 A minor");
    await act(async () => vi.advanceTimersByTimeAsync(10_000));
    expect(fetchProject).toHaveBeenCalledTimes(2); // found: no more asking
  });

  it("does not ask for an older song's", async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-01-01T01:00:00Z"));
    await act(async () => root.render(<Probe p={project(null, "2026-01-01T00:00:00Z")} />));
    await act(async () => vi.advanceTimersByTimeAsync(10_000));
    expect(fetchProject).not.toHaveBeenCalled();
    expect(probe()).toBe("none");
  });
});
