// Progressive separation in the browser (issue 10). First against a scripted server, then for
// real: a server of its own separates a 60 s song with an htdemucs-sized model (random
// weights) on one thread, slowly enough to watch. The
// mixer opens while the song is still processing, plays what is ready (the master meter moves:
// the output is not silent), mute works on the parts playing, and once the project is ready the
// mixer has switched to the whole stems without a reload.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeWav } from "./audio";
import { expect, meterLevel, screenshot, test } from "./fixtures";
import { PYTHON, REPO_DIR, startServer, type RunningServer } from "./server";

const MODEL = "htdemucs_sized_e2e";
const SONG_SECONDS = 60;

/** Builds the model into `<work>/data/models` and writes the song (argv: work dir, song path). */
const PREPARE = `
import sys, wave
from pathlib import Path
import numpy as np
sys.path.insert(0, "bench")
from bench_common import SAMPLE_RATE, build_htdemucs_sized_repo, install_model, music_like
work = Path(sys.argv[1])
weights = build_htdemucs_sized_repo(work / "repo", "${MODEL}")
install_model(work / "data" / "models", "${MODEL}", weights)
audio = music_like(${SONG_SECONDS}, seed=3)
pcm = (np.clip(audio.T, -1, 1) * 32767).astype("<i2").tobytes()
with wave.open(sys.argv[2], "wb") as out:
    out.setnchannels(2)
    out.setsampwidth(2)
    out.setframerate(SAMPLE_RATE)
    out.writeframes(pcm)
`;

// A scripted server (routes in the page): deterministic parts, an outrun separation, and the
// switch to the whole stems while playing.
test("against a scripted server: plays the parts, waits when it catches up, and plays on with the whole stems", async ({ page }) => {
  test.setTimeout(120_000);
  const full = makeWav(12);
  let ready = 3;
  let done = false;
  const stems = (url: (n: string) => string) => ["drums", "bass"].map((n) => ({ name: n, color: "#e4572e", url: done ? url(n) : null, preview_url: url(n) }));
  const body = () => ({
    id: "p1", filename: "fake.wav", status: done ? "ready" : "processing", progress: 50, eta_seconds: 10, queue_position: null,
    model: "m", two_stems: null, shifts: 1, duration_seconds: 12, ready_seconds: done ? 12 : ready, error: null, stage: null,
    stems: stems((n) => (done ? `/fake/full-${n}.wav` : `/fake/${n}.wav`)), events_url: "/fake/events", peaks_url: null, stems_zip_url: null,
    created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", expires_at: null, existing: false,
  });
  const log: string[] = []; // the Range of each partial stem request
  await page.route("**/api/projects/p1", (r) => r.fulfill({ json: body() }));
  await page.route("**/fake/events", (r) => {
    if (!done) ready = Math.min(12, ready + 1);
    if (ready >= 12 && log.length > 0) done = true;
    return r.fulfill({ status: 200, headers: { "Content-Type": "text/event-stream" }, body: `retry: 1500\nevent: project\ndata: ${JSON.stringify(body())}\n\n` });
  });
  await page.route("**/fake/full-*.wav", (r) => r.fulfill({ status: 200, headers: { "Content-Type": "audio/wav" }, body: full }));
  await page.route(/\/fake\/(drums|bass)\.wav/, (r) => {
    const frames = Math.floor(ready * 44100);
    const partial = Buffer.concat([full.subarray(0, 44), full.subarray(44, 44 + frames * 4)]);
    const range = r.request().headers()["range"];
    log.push(range ?? "none");
    if (!range) return r.fulfill({ status: 200, headers: { "Content-Type": "audio/wav" }, body: partial });
    const from = Number(/bytes=(\d+)-/.exec(range)![1]);
    if (from >= partial.length) return r.fulfill({ status: 416, headers: { "Content-Range": `bytes */${partial.length}` } });
    return r.fulfill({ status: 206, headers: { "Content-Type": "audio/wav", "Content-Range": `bytes ${from}-${partial.length - 1}/${partial.length}` }, body: partial.subarray(from) });
  });
  await page.goto("/#/projects/p1");
  await expect(page.locator('[data-testid="mixer"][data-mode="progressive"]')).toBeVisible({ timeout: 20_000 });
  await page.getByRole("button", { name: "Play" }).click();
  const master = page.locator(".transport .master");
  await expect.poll(() => meterLevel(master), { timeout: 5000 }).toBeGreaterThan(0.05);
  await expect(page.getByTestId("separating-status")).toContainText(/Still separating: 0:0\d of 0:12 ready/);
  // Playback outruns 1 s per 1.5 s: it waits at some point.
  await expect(page.getByTestId("separating-status")).toHaveAttribute("data-waiting", "true", { timeout: 20_000 });
  await expect(page.getByTestId("separating-status")).toContainText(/Waiting for the separation… 0:\d\d of 0:12 ready/);
  await expect(page.getByRole("button", { name: "Play" })).toBeVisible();
  await screenshot(page, "progressive-waiting");
  await expect(page.locator('[data-testid="mixer"][data-mode="full"]')).toBeVisible({ timeout: 60_000 });
  // The first request took each WAV whole, the later ones only new PCM, from where it left off.
  expect(log.slice(0, 2)).toEqual(["none", "none"]);
  expect(log.slice(2).every((r) => /^bytes=\d+-$/.test(r))).toBe(true);
  // It played on from where it waited to the end of the song, with the whole stems.
  await expect(page.locator(".time span").first()).toHaveText("0:12", { timeout: 10_000 });
});

test.describe("a real separation", () => {
  let server: RunningServer;
  let workDir: string;
  let song: Buffer;

  test.beforeAll(async () => {
    test.setTimeout(300_000);
    workDir = mkdtempSync(join(tmpdir(), "isomix-e2e-progressive-"));
    const dataDir = join(workDir, "data");
    const songPath = join(workDir, "song.wav");
    // The model goes into the data dir's models/ before the server starts (bench/bench_common.py).
    execFileSync(PYTHON, ["-c", PREPARE, workDir, songPath], { cwd: REPO_DIR, stdio: "inherit" });
    song = readFileSync(songPath);
    server = await startServer("progressive", {
      ISOMIX_DATA_DIR: dataDir,
      ISOMIX_DEFAULT_MODEL: MODEL,
      ISOMIX_TORCH_THREADS: "1",
    });
  });

  test.afterAll(async () => {
    await server?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  test("the mixer plays a song while it separates, mute works, and it switches to the whole stems when ready", async ({ page }) => {
    test.setTimeout(480_000);
    const created = await page.request.post(`${server.url}/api/projects`, {
      multipart: { file: { name: "progressive.wav", mimeType: "audio/wav", buffer: song } },
    });
    expect(created.status()).toBe(202);
    const { id } = (await created.json()) as { id: string };
    const status = async () => ((await (await page.request.get(`${server.url}/api/projects/${id}`)).json()) as { status: string; ready_seconds: number | null });

    await page.goto(`${server.url}/#/projects/${id}`);
    const mixer = page.locator('[data-testid="mixer"][data-mode="progressive"]');
    await expect(mixer).toBeVisible({ timeout: 240_000 });
    const separating = page.getByTestId("separating-status");
    await expect(separating).toContainText(/Still separating: \d+:\d\d of 1:00 ready/);
    await expect(page.getByTestId("ready-region").first()).toBeVisible();
    await expect(page.getByRole("button", { name: "Loop in" })).toBeDisabled();

    // Play: the output is not silent while the project is still processing.
    await page.getByRole("button", { name: "Play" }).click();
    const master = page.locator(".transport .master");
    await expect.poll(() => meterLevel(master), { timeout: 15_000, message: "the master meter moves" }).toBeGreaterThan(0.02);
    expect((await status()).status).toBe("processing");
    await expect(page.locator(".time span").first()).not.toHaveText("0:00", { timeout: 10_000 });
    await screenshot(page, "progressive-playing");

    // Mute every stem: silence; unmute: sound again, still while separating.
    const names = await page.locator("[data-stem]").evaluateAll((lanes) => lanes.map((l) => (l as HTMLElement).dataset.stem!));
    expect(names.length).toBeGreaterThanOrEqual(2);
    for (const name of names) await page.getByRole("button", { name: `Mute ${name}` }).click();
    await expect.poll(() => meterLevel(master), { timeout: 10_000, message: "muted: the master meter falls" }).toBeLessThan(0.002);
    // A stem's own meter is silent too (it taps after its gain).
    await expect.poll(() => meterLevel(page.locator(`[data-testid="lane-${names[0]}"]`)), { timeout: 5_000 }).toBeLessThan(0.002);
    for (const name of names) await page.getByRole("button", { name: `Mute ${name}` }).click();
    await expect.poll(() => meterLevel(master), { timeout: 15_000, message: "unmuted: the master meter moves" }).toBeGreaterThan(0.02);
    expect((await status()).status).toBe("processing");
    await expect(mixer).toBeVisible();

    // If playback catches up with the separation it waits and says so; either way the mixer
    // switches to the whole stems once the project is ready, without a reload.
    await expect(page.locator('[data-testid="mixer"][data-mode="full"]')).toBeVisible({ timeout: 400_000 });
    expect((await status()).status).toBe("ready");
    await expect(page.getByTestId("open-export")).toBeEnabled();
    await expect(page.getByTestId("open-export")).not.toHaveAttribute("aria-disabled", "true");
    await expect(page.getByRole("button", { name: "Loop in" })).toBeEnabled();
    await expect(page.getByTestId("separating-status")).toHaveCount(0);
    await screenshot(page, "progressive-full");
  });
});
