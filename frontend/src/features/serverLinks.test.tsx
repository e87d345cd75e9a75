// @vitest-environment happy-dom
// The UI follows only the links the API's bodies give (events_url, peaks_url, stems_zip_url,
// stem url/preview_url, download_url) and never builds one itself: the server may sign them.
// Every link here has a path and a query string no client could guess from an id.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { initialTracks } from "../audio/mixmath";
import { FakeContext } from "../audio/fakeContext.test-util";
import { api } from "../lib/api";
import { stemLabel } from "../lib/stemNames";
import type { ExportJob, Project } from "../lib/types";
import { ExportDialog } from "./export/ExportDialog";
import { MixerPage } from "./mixer/MixerPage";
import { UploadItem } from "./upload/UploadItem";

vi.mock("../lib/api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../lib/api")>();
  // Only the typed calls are stubbed; followProject and api.peaks stay real.
  return { ...actual, api: { ...actual.api, project: vi.fn(), createExport: vi.fn(), exportJob: vi.fn() } };
});

vi.mock("./mixer/mixesApi", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./mixer/mixesApi")>();
  // The named mixes are a typed API call, like api.project, not a link from the body.
  return { ...actual, mixesApi: { ...actual.mixesApi, list: vi.fn(async () => []) } };
});

const EVENTS_URL = "/links/ev-7f3a/stream?sig=abc";
const PEAKS_URL = "/links/pk-19c2/peaks.json?sig=def";
const ZIP_URL = "/links/zp-5b0e/all-stems.zip?sig=ghi";
const DOWNLOAD_URL = "/links/dl-a41d/the-mix.mp3?sig=jkl";
const STEMS = [
  { name: "vocals", color: "#e4572e", url: "/links/st-01/v.flac?sig=m1", preview_url: "/links/pv-01/v.mp3?sig=n1" },
  { name: "drums", color: "#4c9f70", url: "/links/st-02/d.flac?sig=m2", preview_url: "/links/pv-02/d.mp3?sig=n2" },
];

function project(patch: Partial<Project>): Project {
  return {
    id: "p1",
    filename: "song.wav",
    status: "processing",
    progress: 40,
    eta_seconds: 10,
    queue_position: null,
    model: "demucs_unittest",
    two_stems: null,
    shifts: 1,
    duration_seconds: 3,
    ready_seconds: null,
    error: null,
    stems: [],
    events_url: EVENTS_URL,
    peaks_url: null,
    stems_zip_url: null,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    expires_at: "2026-01-02T00:00:00Z",
    existing: false,
    ...patch,
  };
}

const READY = project({ status: "ready", progress: 100, eta_seconds: null, stems: STEMS, peaks_url: PEAKS_URL, stems_zip_url: ZIP_URL });

function exportJob(download_url: string | null): ExportJob {
  return {
    id: "e1",
    project_id: "p1",
    status: "ready",
    progress: 100,
    format: "mp3",
    bitrate: 320,
    bit_depth: null,
    error: null,
    download_url,
    created_at: "2026-01-01T00:00:00Z",
  };
}

/** Records the URL of every EventSource the page opens. */
class RecordingEventSource {
  static readonly CLOSED = 2;
  static urls: string[] = [];
  readyState = 0;
  onerror: ((e: Event) => void) | null = null;
  constructor(readonly url: string) {
    RecordingEventSource.urls.push(url);
  }
  addEventListener(): void {}
  close(): void {
    this.readyState = RecordingEventSource.CLOSED;
  }
}

/** An AudioContext whose "decoded" stems are 3 s of nothing. */
class DecodingContext extends FakeContext {
  sampleRate = 44100;
  async decodeAudioData(): Promise<AudioBuffer> {
    return { duration: 3, length: 3 * 44100, sampleRate: 44100, numberOfChannels: 2 } as unknown as AudioBuffer;
  }
}

let fetched: string[];
let root: Root | null;
let container: HTMLElement;

async function render(element: React.ReactNode): Promise<void> {
  container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
  await act(async () => root!.render(element));
}

/** Lets pending promises and the state updates they make settle. */
async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !until(); i++) {
    await act(async () => new Promise((r) => setTimeout(r, 0)));
  }
  expect(until()).toBe(true);
}

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  RecordingEventSource.urls = [];
  fetched = [];
  vi.stubGlobal("EventSource", RecordingEventSource);
  vi.stubGlobal("AudioContext", DecodingContext);
  vi.stubGlobal("fetch", async (input: string) => {
    fetched.push(input);
    if (input === PEAKS_URL) return Response.json({ duration_seconds: 3, buckets: 2, stems: { vocals: [0.5, 0.2], drums: [0.1, 0.9] } });
    return new Response(new Uint8Array(64));
  });
  // HTMLDialogElement.showModal may be missing in the test DOM; the dialog's content is what matters.
  HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
    this.open = true;
  };
});

afterEach(async () => {
  if (root) await act(async () => root!.unmount());
  root = null;
  container.remove();
  vi.unstubAllGlobals();
  vi.mocked(api.project).mockReset();
  vi.mocked(api.createExport).mockReset();
});

describe("the progress stream", () => {
  it("the mixer page follows a project that is not ready at its events_url", async () => {
    vi.mocked(api.project).mockResolvedValue(project({}));
    await render(<MixerPage projectId="p1" />);
    await settle(() => RecordingEventSource.urls.length > 0);
    expect(RecordingEventSource.urls).toEqual([EVENTS_URL]);
  });

  it("an upload follows its new project at its events_url", async () => {
    const file = new File(["x"], "song.wav");
    await render(<UploadItem job={{ key: "k", file, sent: 1, total: 1, project: project({}), error: null }} />);
    expect(RecordingEventSource.urls).toEqual([EVENTS_URL]);
  });
});

describe("the ready mixer", () => {
  it("fetches only the body's peaks_url and preview_urls, and links its url and stems_zip_url", async () => {
    vi.mocked(api.project).mockResolvedValue(READY);
    await render(<MixerPage projectId="p1" />);
    await settle(() => container.querySelector('[data-testid="mixer"]') !== null);

    expect([...fetched].sort()).toEqual([PEAKS_URL, ...STEMS.map((s) => s.preview_url)].sort());
    expect(RecordingEventSource.urls).toEqual([]); // ready: nothing to follow
    const links = [...container.querySelectorAll("a[href]")].map((a) => [a.getAttribute("aria-label") ?? a.textContent?.trim(), a.getAttribute("href")]);
    expect(links).toEqual([
      ...STEMS.map((s) => [`Download ${stemLabel(s.name)} (FLAC)`, s.url]),
      ["Download all stems (ZIP)", ZIP_URL],
    ]);
  });
});

describe("the export dialog", () => {
  const mix = { stems: initialTracks(STEMS.map((s) => s.name)), masterGainDb: 0 };

  async function exportNow(job: ExportJob): Promise<void> {
    vi.mocked(api.createExport).mockResolvedValue(job);
    await render(<ExportDialog open projectId="p1" filename="song.wav" mix={mix} onClose={() => {}} />);
    const start = container.querySelector<HTMLButtonElement>('[data-testid="export-start"]')!;
    await act(async () => start.click());
    await settle(() => container.querySelector('[data-testid="export-status"]') !== null);
  }

  it("links the download exactly to the export's download_url", async () => {
    await exportNow(exportJob(DOWNLOAD_URL));
    const link = container.querySelector('[data-testid="export-download"]');
    expect(link?.getAttribute("href")).toBe(DOWNLOAD_URL);
    // Saved under the server's name for it (Content-Disposition), and said so before the click.
    expect(link?.getAttribute("download")).toBe("song - mix.mp3");
    expect(container.querySelector('[data-testid="export-ready"]')?.textContent).toBe("✓ Ready: song - mix.mp3");
  });

  it("offers no download while the body has no download_url (none is made up)", async () => {
    await exportNow(exportJob(null));
    expect(container.querySelector('[data-testid="export-download"]')).toBeNull();
    expect(container.querySelector("a[href]")).toBeNull();
  });
});
