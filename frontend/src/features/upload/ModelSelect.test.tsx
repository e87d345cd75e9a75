// @vitest-environment happy-dom
// The model picker says each thing once, shows install commands as copyable code, and installs
// a model from the browser: the Install button, its progress, then the model selected; offline,
// the server's one line saying how to import the files instead.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import type { ModelInfo } from "../../lib/types";
import { INSTALL_POLL_MS, INSTALL_POLL_TRIES } from "./ModelInstall";
import { ModelSelect } from "./ModelSelect";

// The typed client captures fetch when its module loads: stub it before any import runs.
const fetchMock = vi.hoisted(() => {
  const mock = vi.fn<(request: Request) => Promise<Response>>();
  globalThis.fetch = mock as unknown as typeof fetch;
  return mock;
});

type Install = NonNullable<ModelInfo["install"]>;

const CLI = ".venv/bin/isomix";

function model(patch: Partial<ModelInfo> & { name: string }): ModelInfo {
  return {
    description: "",
    stems: ["drums", "bass", "other", "vocals"],
    installed: false,
    default: false,
    quality_sdr_db: null,
    quality_source: null,
    speed_rtf: null,
    size_mb: null,
    size_text: null,
    low_quality: false,
    install_hint: "",
    install_commands: [],
    installable: false,
    install: null,
    problem: null,
    ...patch,
  };
}

const CLASSIC = model({
  name: "classic",
  description: "Weight-free DSP separation for machines without a Demucs model: much lower quality.",
  installed: true,
  default: true,
  quality_sdr_db: 5.94,
  quality_source: "measured here (bench/classic_sdr.py) on one 7 s MUSDB18 excerpt it was tuned on",
  low_quality: true,
  install_hint: "Built in: nothing to install.",
});

const HTDEMUCS = model({
  name: "htdemucs",
  description: "Hybrid Transformer Demucs v4: good quality, one model.",
  quality_sdr_db: 9,
  quality_source: "published by Demucs (README), MUSDB18-HQ test set",
  size_mb: 84,
  size_text: "~84 MB",
  install_hint: "htdemucs is not installed. Download it from the model hub (needs internet) or, on a server without internet, import its files fetched elsewhere:",
  install_commands: [`${CLI} models pull htdemucs`, `${CLI} models import FOLDER --name htdemucs`],
  installable: true,
});

function install(patch: Partial<Install>): Install {
  return {
    model: "htdemucs",
    state: "running",
    phase: "starting",
    files_done: 0,
    files_total: null,
    bytes_done: 0,
    bytes_total: null,
    error: null,
    commands: [],
    started_at: "2026-01-01T00:00:00Z",
    finished_at: null,
    ...patch,
  };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** Answers each request by method and path from queues of bodies; records what was asked. */
function serve(routes: Record<string, Response[]>): string[] {
  const asked: string[] = [];
  fetchMock.mockImplementation(async (request: Request) => {
    const key = `${request.method} ${new URL(request.url, "http://localhost").pathname}`;
    asked.push(key);
    const queue = routes[key];
    if (!queue?.length) return json({ detail: `no answer for ${key}`, code: "not_found" }, 404);
    return queue.length > 1 ? queue.shift()! : queue[0]!.clone();
  });
  return asked;
}

let root: Root;
let container: HTMLElement;
const onChange = vi.fn();

async function render(models: ModelInfo[], value = "classic"): Promise<void> {
  await act(async () => root.render(<ModelSelect models={models} value={value} onChange={onChange} />));
}

async function click(element: Element): Promise<void> {
  await act(async () => (element as HTMLElement).click());
}

async function tick(ms = INSTALL_POLL_MS): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

function button(name: string): HTMLButtonElement {
  const found = [...container.querySelectorAll("button")].find((b) => b.textContent === name);
  if (!found) throw new Error(`no button "${name}" in: ${container.textContent}`);
  return found;
}

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  fetchMock.mockReset();
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

it("says each thing once: name and default in the list, then description, then the facts", async () => {
  await render([CLASSIC, HTDEMUCS]);

  const options = [...container.querySelectorAll("option")].map((o) => o.textContent);
  expect(options).toEqual(["classic (default)", "htdemucs (not installed)"]);
  const description = container.querySelector(`[id$="-desc"]`)!;
  expect(description.textContent).toBe(
    "Weight-free DSP separation for machines without a Demucs model: much lower quality." +
      "4 stems · SDR 5.94 dB: measured here (bench/classic_sdr.py) on one 7 s MUSDB18 excerpt it was tuned on",
  );
  expect(container.textContent!.match(/low(er)? quality/gi)).toHaveLength(1);
  expect(container.textContent).toContain("4 stems · SDR 9.00 dB: published by Demucs (README), MUSDB18-HQ test set · ~84 MB");
});

it("shows install commands as code with a Copy button, the hint as prose", async () => {
  const writeText = vi.fn<(text: string) => Promise<void>>().mockResolvedValue();
  Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
  await render([CLASSIC, HTDEMUCS]);

  const codes = [...container.querySelectorAll("code")].map((c) => c.textContent);
  expect(codes).toEqual([`${CLI} models pull htdemucs`, `${CLI} models import FOLDER --name htdemucs`]);
  expect(container.textContent).not.toContain("`");
  expect([...container.querySelectorAll("p")].some((p) => p.textContent === HTDEMUCS.install_hint)).toBe(true);

  const copy = container.querySelector(`button[aria-label="Copy the command ${CLI} models pull htdemucs"]`)!;
  await click(copy);
  expect(writeText).toHaveBeenCalledWith(`${CLI} models pull htdemucs`);
  expect(copy.parentElement!.textContent).toContain("Copied.");
});

it("installs a model from the browser with progress, then selects it", async () => {
  const asked = serve({
    "POST /api/models/htdemucs/install": [json(install({ phase: "starting" }), 202)],
    "GET /api/models/htdemucs/install": [
      json(install({ phase: "downloading", files_done: 1, files_total: 2, bytes_done: 42_000_000, bytes_total: 84_100_000 })),
      json(install({ phase: "verifying", files_done: 2, files_total: 2, bytes_done: 84_100_000, bytes_total: 84_100_000 })),
      json(install({ state: "installed", phase: "done", files_done: 2, files_total: 2, bytes_done: 84_100_000, bytes_total: 84_100_000 })),
    ],
    "GET /api/models": [json([CLASSIC, { ...HTDEMUCS, installed: true, installable: false, size_text: "84.1 MB", default: true }])],
  });
  await render([CLASSIC, HTDEMUCS]);

  await click(button("Install htdemucs"));
  expect(asked).toEqual(["POST /api/models/htdemucs/install"]);
  expect(container.textContent).toContain("Starting…");

  await tick();
  const bar = container.querySelector("progress")!;
  expect(bar.getAttribute("aria-label")).toBe("Installing htdemucs");
  expect(bar.value).toBeCloseTo(49.94, 1);
  expect(container.textContent).toContain("Downloading: 42 MB of 84.1 MB (file 2 of 2)");
  expect(container.textContent).not.toContain("Install htdemucs"); // no second install while it runs

  await tick();
  expect(container.textContent).toContain("Checking the downloaded model…");

  await tick();
  expect(asked.slice(-2)).toEqual(["GET /api/models/htdemucs/install", "GET /api/models"]);
  expect(onChange).toHaveBeenCalledWith("htdemucs");
  expect(container.querySelector('[role="status"]')!.textContent).toBe("htdemucs is installed and selected.");

  // The parent re-renders with the new value: htdemucs is selectable, nothing is left to install.
  await render([CLASSIC, HTDEMUCS], "htdemucs");
  expect(container.querySelector<HTMLOptionElement>('option[value="htdemucs"]')!.disabled).toBe(false);
  expect(container.querySelector("details")).toBeNull();
  expect(container.textContent).toContain("84.1 MB");
  await tick(5 * INSTALL_POLL_MS);
  expect(asked).toHaveLength(5); // polling stopped
});

it("offline, says in one line how to import the files instead", async () => {
  const line =
    "The model hub cannot be reached (HF_HUB_OFFLINE is set). To install htdemucs offline, download htdemucs.yaml and " +
    "955717e8.safetensors from https://huggingface.co/adefossez/HTDemucs/tree/main on a machine with internet, copy them " +
    "into one folder on this server and import it:";
  serve({
    "POST /api/models/htdemucs/install": [json(install({ phase: "starting" }), 202)],
    "GET /api/models/htdemucs/install": [
      json(install({ state: "failed", phase: "connecting", error: line, commands: [`${CLI} models import FOLDER --name htdemucs`], finished_at: "2026-01-01T00:00:01Z" })),
    ],
  });
  await render([CLASSIC, HTDEMUCS]);

  await click(button("Install htdemucs"));
  await tick();

  const alert = container.querySelector('[role="alert"]')!;
  expect(alert.textContent).toBe(line);
  expect(container.querySelector("progress")).toBeNull();
  // The import command is shown once, as code (it is one of the model's install commands).
  const codes = [...container.querySelectorAll("code")].map((c) => c.textContent);
  expect(codes.filter((c) => c === `${CLI} models import FOLDER --name htdemucs`)).toHaveLength(1);
  expect(button("Try installing htdemucs again")).toBeDefined();
  expect(onChange).not.toHaveBeenCalled();
});

it("a refused install says why", async () => {
  serve({
    "POST /api/models/htdemucs/install": [json({ detail: "The model hub cannot be reached.", code: "hub_unreachable" }, 503)],
  });
  await render([CLASSIC, HTDEMUCS]);

  await click(button("Install htdemucs"));

  expect(container.querySelector('[role="alert"]')!.textContent).toContain("The model hub cannot be reached.");
  expect(button("Install htdemucs").disabled).toBe(false);
});

it("an install already running (409 install_running) is followed, not shown as an error", async () => {
  const asked = serve({
    "POST /api/models/htdemucs/install": [json({ detail: "htdemucs is already being installed.", code: "install_running" }, 409)],
    "GET /api/models/htdemucs/install": [
      json(install({ phase: "downloading", files_done: 0, files_total: 2, bytes_done: 10_000_000, bytes_total: 84_100_000 })),
      json(install({ phase: "verifying", files_done: 2, files_total: 2, bytes_done: 84_100_000, bytes_total: 84_100_000 })),
    ],
  });
  await render([CLASSIC, HTDEMUCS]);

  await click(button("Install htdemucs"));

  expect(asked).toEqual(["POST /api/models/htdemucs/install", "GET /api/models/htdemucs/install"]);
  expect(container.querySelector('[role="alert"]')).toBeNull();
  expect(container.textContent).toContain("Downloading: 10 MB of 84.1 MB (file 1 of 2)");
  expect(container.textContent).not.toContain("Install htdemucs");
  await tick();
  expect(container.textContent).toContain("Checking the downloaded model…");
});

it("Install cannot be pressed twice while the server has not answered", async () => {
  let answer: (r: Response) => void = () => {};
  const asked: string[] = [];
  fetchMock.mockImplementation((request: Request) => {
    asked.push(`${request.method} ${new URL(request.url, "http://localhost").pathname}`);
    return new Promise((resolve) => (answer = resolve));
  });
  await render([CLASSIC, HTDEMUCS]);

  const first = button("Install htdemucs");
  await click(first);
  expect(first.disabled).toBe(true);
  first.disabled = false; // even if a second click got through
  await click(first);
  expect(asked).toEqual(["POST /api/models/htdemucs/install"]);

  await act(async () => answer(json(install({ phase: "starting" }), 202)));
  expect(container.textContent).toContain("Starting…");
});

it("after an install, a failed re-read of the list still makes the model selectable and selects it", async () => {
  serve({
    "POST /api/models/htdemucs/install": [json(install({ state: "installed", phase: "done", files_done: 2, files_total: 2, bytes_done: 84_100_000, bytes_total: 84_100_000 }))],
    "GET /api/models": [json({ detail: "Server error", code: "server_error" }, 500)],
  });
  await render([CLASSIC, HTDEMUCS]);

  await click(button("Install htdemucs"));
  await act(async () => {});

  expect(onChange).toHaveBeenCalledWith("htdemucs");
  expect(container.querySelector<HTMLOptionElement>('option[value="htdemucs"]')!.disabled).toBe(false);
  expect(container.querySelector('[role="status"]')!.textContent).toBe("htdemucs is installed and selected.");
});

it("an install running when the page opens is followed", async () => {
  serve({
    "GET /api/models/htdemucs/install": [json(install({ phase: "downloading", files_done: 1, files_total: 2, bytes_done: 0, bytes_total: 84_100_000 }))],
  });
  await render([CLASSIC, { ...HTDEMUCS, install: install({ phase: "connecting" }) }]);

  expect(container.textContent).toContain("Connecting to the model hub…");
  await tick();
  expect(container.textContent).toContain("Downloading: 0 B of 84.1 MB (file 2 of 2)");
});

it("a progress check that fails for good gives the Install button back, with the reason", async () => {
  const asked = serve({
    "POST /api/models/htdemucs/install": [json(install({ phase: "starting" }), 202)],
    "GET /api/models/htdemucs/install": [json({ detail: "No install of htdemucs is known.", code: "not_found" }, 404)],
  });
  await render([CLASSIC, HTDEMUCS]);

  await click(button("Install htdemucs"));
  await tick();
  await tick(); // a blip is retried…
  expect(container.textContent).not.toContain("Install htdemucs");
  await tick(); // …but not for ever
  expect(asked.filter((a) => a === "GET /api/models/htdemucs/install")).toHaveLength(INSTALL_POLL_TRIES);
  expect(button("Install htdemucs")).toBeDefined();
  expect(container.querySelector("progress")).toBeNull();
  expect(container.querySelector('[role="alert"]')!.textContent).toContain("No install of htdemucs is known.");
  await tick(5 * INSTALL_POLL_MS);
  expect(asked).toHaveLength(1 + INSTALL_POLL_TRIES); // polling stopped
});

it("one failed progress check (a network blip) does not stop the install", async () => {
  serve({
    "POST /api/models/htdemucs/install": [json(install({ phase: "starting" }), 202)],
    "GET /api/models/htdemucs/install": [
      json({ detail: "Bad gateway", code: "bad_gateway" }, 502),
      json(install({ phase: "verifying", files_done: 2, files_total: 2, bytes_done: 84_100_000, bytes_total: 84_100_000 })),
    ],
  });
  await render([CLASSIC, HTDEMUCS]);

  await click(button("Install htdemucs"));
  await tick();
  await tick();
  expect(container.textContent).toContain("Checking the downloaded model…");
  expect(container.querySelector('[role="alert"]')).toBeNull();
});

it("an install that finished earlier, of a model not installed now, offers Install again", async () => {
  const asked = serve({});
  const done = install({ state: "installed", phase: "done", files_done: 2, files_total: 2, bytes_done: 84_100_000, bytes_total: 84_100_000 });
  await render([CLASSIC, { ...HTDEMUCS, install: done }]);

  expect(button("Install htdemucs")).toBeDefined();
  expect(container.textContent).not.toContain("Installed.");
  expect(container.querySelector("progress")).toBeNull();
  await tick(3 * INSTALL_POLL_MS);
  expect(asked).toEqual([]);
});

it("progress is not a live region; screen readers hear the phase, and downloads by quarters", async () => {
  serve({
    "POST /api/models/htdemucs/install": [json(install({ phase: "connecting" }), 202)],
    "GET /api/models/htdemucs/install": [
      json(install({ phase: "downloading", files_done: 0, files_total: 2, bytes_done: 30_000_000, bytes_total: 84_100_000 })),
      json(install({ phase: "downloading", files_done: 1, files_total: 2, bytes_done: 35_000_000, bytes_total: 84_100_000 })),
      json(install({ phase: "downloading", files_done: 1, files_total: 2, bytes_done: 43_000_000, bytes_total: 84_100_000 })),
    ],
  });
  await render([CLASSIC, HTDEMUCS]);
  const announced = () => [...container.querySelectorAll(".model-install [aria-live]")].map((e) => e.textContent);

  await click(button("Install htdemucs"));
  expect(announced()).toEqual(["htdemucs: Connecting to the model hub…"]);
  await tick();
  expect(container.textContent).toContain("Downloading: 30 MB of 84.1 MB");
  expect(announced()).toEqual(["htdemucs: Downloading: 25 %"]);
  await tick();
  expect(container.textContent).toContain("Downloading: 35 MB of 84.1 MB");
  expect(announced()).toEqual(["htdemucs: Downloading: 25 %"]); // unchanged: nothing said
  await tick();
  expect(announced()).toEqual(["htdemucs: Downloading: 50 %"]);
});
