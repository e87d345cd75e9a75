// @vitest-environment happy-dom
// The export dialog's practice fields: prefilled from the mixer, each sent as the API names it.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { initialTracks } from "../../audio/mixmath";
import { api } from "../../lib/api";
import type { ExportJob, ExportRequest } from "../../lib/types";
import { ExportDialog } from "./ExportDialog";

vi.mock("../../lib/api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../../lib/api")>();
  return { ...actual, api: { ...actual.api, createExport: vi.fn(), exportJob: vi.fn() } };
});

const JOB: ExportJob = {
  id: "e1",
  project_id: "p1",
  status: "ready",
  progress: 100,
  format: "mp3",
  bitrate: 320,
  bit_depth: null,
  error: null,
  download_url: "/api/exports/e1/download",
  created_at: "2026-01-01T00:00:00Z",
};
const mix = { stems: initialTracks(["vocals", "drums", "bass"]), masterGainDb: 0 };
const SECTIONS = [
  { name: "Chorus", start: 40 },
  { name: "Verse", start: 10 },
];

let root: Root | null = null;
let container: HTMLElement;

async function open(props: Partial<React.ComponentProps<typeof ExportDialog>> = {}): Promise<void> {
  container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
  await act(async () => root!.render(<ExportDialog open projectId="p1" filename="song.wav" mix={mix} onClose={() => {}} {...props} />));
}

function byTestId<T extends Element>(id: string): T {
  const found = container.querySelector<T>(`[data-testid="${id}"]`);
  if (!found) throw new Error(`no ${id}`);
  return found;
}

function labelled<T extends HTMLElement>(text: string): T {
  const label = [...container.querySelectorAll("label")].find((l) => l.textContent?.includes(text));
  const control = label?.querySelector<T>("input, select");
  if (!control) throw new Error(`no control labelled ${text}`);
  return control;
}

/** Sets a form control's value the way typing or choosing does, so React sees it. */
async function change(element: HTMLInputElement | HTMLSelectElement, value: string): Promise<void> {
  const proto = element instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, "value")!.set!.call(element, value);
  await act(async () => element.dispatchEvent(new Event(element instanceof HTMLSelectElement ? "change" : "input", { bubbles: true })));
}

async function click(element: HTMLElement): Promise<void> {
  await act(async () => element.click());
}

async function exported(): Promise<ExportRequest> {
  await click(byTestId<HTMLButtonElement>("export-start"));
  expect(api.createExport).toHaveBeenCalledTimes(1);
  const [projectId, body] = vi.mocked(api.createExport).mock.calls[0]!;
  expect(projectId).toBe("p1");
  return body;
}

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
    this.open = true;
  };
  vi.mocked(api.createExport).mockResolvedValue(JOB);
});

afterEach(async () => {
  if (root) await act(async () => root!.unmount());
  root = null;
  container.remove();
  vi.mocked(api.createExport).mockReset();
});

it("without the mixer's practice settings it exports the whole song as mixed", async () => {
  await open();
  expect(byTestId<HTMLInputElement>("export-tempo").value).toBe("100");
  expect(byTestId<HTMLInputElement>("export-pitch").value).toBe("0");
  expect(container.querySelectorAll('input[name="export-range"]')).toHaveLength(1); // no loop set
  expect(container.querySelector('[data-testid="export-section"]')).toBeNull();
  expect(await exported()).toMatchObject({ tempo: 1, pitch_semitones: 0, start_seconds: null, end_seconds: null, include_stems: null, loudness_lufs: null, filename: null });
});

it("starts from the mixer's tempo and pitch and exports the loop", async () => {
  await open({ tempo: 0.75, pitchSemitones: -2, loop: { start: 12.5, end: 20 } });
  expect(byTestId<HTMLInputElement>("export-tempo").value).toBe("75");
  expect(byTestId<HTMLInputElement>("export-pitch").value).toBe("-2");
  const loop = labelled<HTMLInputElement>("Loop (0:12.5–0:20.0)");
  await click(loop);
  expect(await exported()).toMatchObject({ tempo: 0.75, pitch_semitones: -2, start_seconds: 12.5, end_seconds: 20 });
});

it("exports a section up to the next one, some stems, a loudness and a name", async () => {
  await open({ sections: SECTIONS });
  const section = byTestId<HTMLSelectElement>("export-section");
  // In song order, whatever order the mixer keeps them in.
  expect([...section.options].map((o) => o.textContent)).toEqual(["—", "Verse (0:10.0)", "Chorus (0:40.0)"]);
  await change(section, "section-0");
  await click(labelled<HTMLInputElement>("Drums"));
  await change(byTestId<HTMLSelectElement>("export-loudness"), "-14");
  await change(byTestId<HTMLInputElement>("export-filename"), "Verse: no drums");
  await change(byTestId<HTMLInputElement>("export-tempo"), "90");
  const body = await exported();
  expect(body).toMatchObject({ tempo: 0.9, start_seconds: 10, end_seconds: 40, include_stems: ["vocals", "bass"], loudness_lufs: -14, filename: "Verse: no drums" });
  // Saved under the name the server gives it (made safe the same way).
  expect(byTestId<HTMLAnchorElement>("export-download").getAttribute("download")).toBe("Verse no drums.mp3");
});

it("refuses to start with no stem or a tempo out of range", async () => {
  await open();
  for (const name of ["Vocals", "Drums", "Bass"]) await click(labelled<HTMLInputElement>(name));
  expect(byTestId<HTMLButtonElement>("export-start").disabled).toBe(true);
  expect(container.textContent).toContain("Choose at least one stem.");
  await click(labelled<HTMLInputElement>("Bass"));
  expect(byTestId<HTMLButtonElement>("export-start").disabled).toBe(false);
  await change(byTestId<HTMLInputElement>("export-tempo"), "30");
  expect(byTestId<HTMLButtonElement>("export-start").disabled).toBe(true);
  expect(byTestId<HTMLInputElement>("export-tempo").getAttribute("aria-invalid")).toBe("true");
});
