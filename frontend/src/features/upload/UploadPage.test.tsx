// @vitest-environment happy-dom
// The upload page: what it says about formats and limits, and the list of this session's uploads.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api, uploadProject } from "../../lib/api";
import { ApiError } from "../../lib/errors";
import type { ModelInfo, Project, PublicConfig } from "../../lib/types";
import { MixerPage } from "../mixer/MixerPage";
import { UploadItem } from "./UploadItem";
import { UploadPage } from "./UploadPage";

vi.mock("../../lib/api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../../lib/api")>();
  return { ...actual, uploadProject: vi.fn(), api: { ...actual.api, models: vi.fn(), config: vi.fn(), project: vi.fn() } };
});

const MODEL: ModelInfo = {
  name: "demucs_unittest",
  description: "A test model.",
  stems: ["drums", "bass", "other", "vocals"],
  installed: true,
  default: true,
  quality_sdr_db: null,
  speed_rtf: null,
  size_mb: null,
  low_quality: false,
  install_hint: "",
  installable: false,
};
// Not the UI's idea of a format list: whatever the server says it accepts.
const CONFIG: PublicConfig = {
  default_model: "demucs_unittest",
  max_upload_bytes: 200_000_000,
  max_duration_seconds: 1800,
  accepted_formats: ["MP3", "Opus", "WAV"],
  auth_mode: "single",
  signup: false,
  accepted_extensions: [".mp3", ".opus", ".wav"],
};

function project(patch: Partial<Project>): Project {
  return {
    id: "p1",
    filename: "song.wav",
    status: "queued",
    progress: 0,
    eta_seconds: null,
    queue_position: 1,
    model: "demucs_unittest",
    two_stems: null,
    shifts: 1,
    duration_seconds: 3,
    ready_seconds: null,
    error: null,
    stems: [],
    events_url: "/e/p1",
    peaks_url: null,
    stems_zip_url: null,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    expires_at: null,
    existing: false,
    ...patch,
  };
}

class SilentEventSource {
  static readonly CLOSED = 2;
  readyState = 0;
  onerror = null;
  addEventListener(): void {}
  close(): void {}
}

let root: Root | null = null;
let container: HTMLElement;

async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !until(); i++) await act(async () => new Promise((r) => setTimeout(r, 0)));
  expect(until()).toBe(true);
}

async function renderPage(config: PublicConfig = CONFIG): Promise<void> {
  vi.mocked(api.models).mockResolvedValue([MODEL]);
  vi.mocked(api.config).mockResolvedValue(config);
  container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
  await act(async () => root!.render(<UploadPage />));
  await settle(() => !container.querySelector<HTMLButtonElement>("button.primary")?.disabled);
}

const fileInput = () => container.querySelector<HTMLInputElement>('[data-testid="file-input"]')!;
const items = () => [...container.querySelectorAll<HTMLElement>('[data-testid="upload-item"]')];
const button = (name: string) => container.querySelector<HTMLButtonElement>(`button[aria-label="${name}"]`);

async function choose(...files: File[]): Promise<void> {
  Object.defineProperty(fileInput(), "files", { value: files, configurable: true });
  await act(async () => fileInput().dispatchEvent(new Event("change", { bubbles: true })));
}

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  vi.stubGlobal("EventSource", SilentEventSource);
  window.location.hash = "#/";
});

afterEach(async () => {
  if (root) await act(async () => root!.unmount());
  root = null;
  container.remove();
  vi.unstubAllGlobals();
  vi.mocked(uploadProject).mockReset();
});

describe("this session's uploads", () => {
  it("a refused upload can be dismissed; one still uploading cannot", async () => {
    let finish: (p: Project) => void = () => {};
    vi.mocked(uploadProject).mockImplementation(({ file }) =>
      file.name === "notes.mp3"
        ? Promise.reject(new ApiError(415, "unsupported_media", "This file is not a supported audio file."))
        : new Promise((resolve) => (finish = resolve)),
    );
    await renderPage();
    await choose(new File(["not audio"], "notes.mp3"), new File(["RIFF"], "song.wav"));
    await settle(() => container.querySelector('[role="alert"]') !== null);

    expect(items()).toHaveLength(2);
    expect(button("Dismiss song.wav")).toBeNull(); // still uploading
    const dismiss = button("Dismiss notes.mp3")!;
    expect(dismiss.textContent).toBe("×");
    await act(async () => dismiss.click());
    expect(items().map((li) => li.querySelector(".filename")?.textContent)).toEqual(["song.wav"]);

    // Once its separation is over, it can go too; then the list is gone.
    await act(async () => finish(project({ status: "ready", progress: 100, queue_position: null })));
    await settle(() => button("Dismiss song.wav") !== null);
    await act(async () => button("Dismiss song.wav")!.click());
    expect(items()).toHaveLength(0);
    expect(container.textContent).not.toContain("This session");
  });
});

describe("what the server accepts", () => {
  it("the drop zone's formats and the file picker's filter come from /api/config", async () => {
    await renderPage();
    expect(container.querySelector(".dropzone")?.textContent).toContain("MP3, Opus or WAV. Up to 200 MB and 30 minutes.");
    expect(fileInput().getAttribute("accept")).toBe(".mp3,.opus,.wav");
  });
});

describe("a song that is already in the library", () => {
  const existing = project({ id: "p9", status: "processing", progress: 30, queue_position: null, existing: true });

  it("one file: opens the song the server already has, and the mixer says so", async () => {
    vi.mocked(uploadProject).mockResolvedValue(existing);
    await renderPage();
    await choose(new File(["RIFF"], "song.wav"));
    await settle(() => window.location.hash === "#/projects/p9");
    await act(async () => root!.unmount());

    vi.mocked(api.project).mockResolvedValue({ ...existing, existing: false });
    root = createRoot(container);
    await act(async () => root!.render(<MixerPage projectId="p9" />));
    // The status region is there first, empty, then gets its words: so they are announced.
    const region = container.querySelector('[data-testid="mixer-notice"]')!;
    expect(region.getAttribute("role")).toBe("status");
    expect(region.textContent).toBe("");
    await act(async () => new Promise((r) => setTimeout(r, 200)));
    expect(region.textContent).toBe("You already have this song: opened it.");
    expect(container.querySelector('[data-testid="mixer-notice"]')).toBe(region);
  });

  it("several files: no page change; the item says it is the song already there", async () => {
    vi.mocked(uploadProject).mockImplementation(({ file }) => Promise.resolve(file.name === "old.wav" ? existing : project({ id: "p2" })));
    await renderPage();
    await choose(new File(["RIFF"], "old.wav"), new File(["RIFF"], "new.wav"));
    await settle(() => container.querySelector('[data-testid="upload-existing"]') !== null);
    expect(window.location.hash).toBe("#/");
    const said = items().filter((li) => li.querySelector('[data-testid="upload-existing"]'));
    expect(said.map((li) => li.querySelector(".filename")?.textContent)).toEqual(["old.wav"]);
    expect(said[0]!.textContent).toContain("You already have this song");
  });
});

describe("a song already in the library, answered at a bad moment", () => {
  const existing = project({ id: "p9", status: "processing", progress: 30, queue_position: null, existing: true });

  it("after the user left the upload page: no page change", async () => {
    let answer: (p: Project) => void = () => {};
    vi.mocked(uploadProject).mockImplementation(() => new Promise((resolve) => (answer = resolve)));
    await renderPage();
    await choose(new File(["RIFF"], "song.wav"));
    await act(async () => root!.unmount());
    root = null;
    window.location.hash = "#/library"; // where the user went meanwhile

    await act(async () => answer(existing));
    await act(async () => new Promise((r) => setTimeout(r, 0)));
    expect(window.location.hash).toBe("#/library");
  });

  it("while another upload is under way: no page change; the item says so, with a link to open it", async () => {
    vi.mocked(uploadProject).mockImplementation(({ file }) => (file.name === "old.wav" ? Promise.resolve(existing) : new Promise(() => {})));
    await renderPage();
    await choose(new File(["RIFF"], "long.wav"));
    await choose(new File(["RIFF"], "old.wav"));
    await settle(() => container.querySelector('[data-testid="upload-existing"]') !== null);
    await act(async () => new Promise((r) => setTimeout(r, 0)));

    expect(window.location.hash).toBe("#/");
    expect(items()).toHaveLength(2);
    const link = container.querySelector<HTMLAnchorElement>('[data-testid="upload-existing"] a')!;
    expect(link.textContent).toBe("Open it");
    expect(link.getAttribute("href")).toBe("#/projects/p9");
  });
});

describe("an earlier upload that its live progress says is over", () => {
  it("does not keep a song already in the library from opening", async () => {
    const sources: { url: string; emit: (p: Project) => void }[] = [];
    vi.stubGlobal(
      "EventSource",
      class {
        static readonly CLOSED = 2;
        readyState = 0;
        onerror = null;
        private listener: ((e: MessageEvent<string>) => void) | null = null;
        constructor(url: string) {
          sources.push({ url, emit: (p) => this.listener?.(new MessageEvent("project", { data: JSON.stringify(p) })) });
        }
        addEventListener(_: string, listener: (e: MessageEvent<string>) => void): void {
          this.listener = listener;
        }
        close(): void {}
      },
    );
    const first = project({ id: "p1", events_url: "/e/p1" });
    const again = project({ id: "p1", events_url: "/e/p1b", status: "ready", progress: 100, queue_position: null, existing: true });
    vi.mocked(uploadProject).mockResolvedValueOnce(first).mockResolvedValueOnce(again);
    await renderPage();
    await choose(new File(["RIFF"], "song.wav"));
    await settle(() => sources.length === 1);
    // Its answer said "queued"; the live progress says it is ready now.
    await act(async () => sources[0]!.emit({ ...first, status: "ready", progress: 100, queue_position: null }));

    await choose(new File(["RIFF"], "song.wav"));
    await settle(() => window.location.hash === "#/projects/p1");
  });
});

describe("a job that is starting", () => {
  it("says it is loading the model, with a moving bar instead of 0 %", async () => {
    container = document.createElement("div");
    document.body.append(container);
    root = createRoot(container);
    const file = new File(["x"], "song.wav");
    const starting = project({ status: "processing", progress: 0, queue_position: null, stage: "loading_model" });
    await act(async () => root!.render(<UploadItem job={{ key: "k", file, sent: 1, total: 1, project: starting, error: null }} />));
    expect(container.querySelector('[data-testid="project-status"]')?.textContent).toBe("Loading model…");
    const bar = container.querySelector("progress")!;
    expect(bar.hasAttribute("value")).toBe(false); // indeterminate: the browser animates it
    expect(bar.getAttribute("aria-valuetext")).toBe("Loading model…");
  });
});
