// The browser's mix (renderMixOffline: the mixer's own Web Audio graph) and the server's export
// of the same settings must agree: residual at least 40 dB below the signal.
import { makeWav } from "./audio";
import { expect, test } from "./fixtures";
import type {} from "../src/testing"; // window.__isomix

interface Project {
  id: string;
  status: string;
  stems: { name: string; color: string; url: string; preview_url: string }[];
}

async function waitFor<T>(get: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 500));
  }
}

test("browser render matches the server's WAV export (>= 40 dB residual)", async ({ page, request }) => {
  const created = await request.post("/api/projects", {
    // A length no other test uploads: the same file again would be answered 200 with that project.
    multipart: { file: { name: "parity.wav", mimeType: "audio/wav", buffer: makeWav(3.5) } },
  });
  expect(created.status()).toBe(202);
  const { id } = (await created.json()) as Project;
  const project = await waitFor(
    async () => (await (await request.get(`/api/projects/${id}`)).json()) as Project,
    (p) => ["ready", "failed", "cancelled"].includes(p.status),
    150_000,
  );
  expect(project.status).toBe("ready");
  const names = project.stems.map((s) => s.name);
  expect(names.length).toBeGreaterThanOrEqual(2);

  // Gains, a mute, solos, a hard and a partial pan. Solo: stems 0 and 1; stem 2 muted and
  // soloed (mute wins); any others silent because something is soloed.
  const uiStems: Record<string, { gainDb: number; mute: boolean; solo: boolean; pan: number }> = {};
  names.forEach((name, i) => {
    uiStems[name] = [
      { gainDb: -3, mute: false, solo: true, pan: -1 },
      { gainDb: 4, mute: false, solo: true, pan: 0.35 },
      { gainDb: 0, mute: true, solo: true, pan: 0.5 },
    ][i] ?? { gainDb: -6, mute: false, solo: false, pan: 1 };
  });
  const settings = { stems: uiStems, masterGainDb: -2 };
  const body = {
    stems: Object.fromEntries(Object.entries(uiStems).map(([n, t]) => [n, { gain_db: t.gainDb, mute: t.mute, solo: t.solo, pan: t.pan }])),
    master_gain_db: settings.masterGainDb,
    format: "wav",
    bit_depth: 24,
  };
  const exportResponse = await request.post(`/api/projects/${id}/exports`, { data: body });
  expect(exportResponse.status()).toBe(202);
  const job = await waitFor(
    async () => (await (await request.get(`/api/exports/${(await exportResponse.json()).id}`)).json()) as { status: string; id: string; download_url: string | null },
    (j) => j.status === "ready" || j.status === "failed",
    120_000,
  );
  expect(job.status).toBe("ready");
  // The link the export's body gives, as the UI follows it.
  const exportUrl = job.download_url;
  if (exportUrl === null) throw new Error("a ready export has no download_url");

  await page.goto("/#/library");
  expect(
    await page.evaluate(() => window.__isomix !== undefined),
    "the server must serve the e2e build of the UI (scripts/build-frontend.sh --e2e; ISOMIX_UI_DIR=frontend/dist-e2e)",
  ).toBe(true);
  const result = await page.evaluate(
    async ({ stems, settings, exportUrl }) => {
      const hooks = window.__isomix!;
      const sampleRate = 44100;
      // Decoding in an OfflineAudioContext at 44.1 kHz keeps the stems' own rate (no resampling).
      const decoder = new OfflineAudioContext(2, 1, sampleRate);
      const buffers = await hooks.loadStemBuffers(decoder, stems, new AbortController().signal, undefined, "url");
      const browser = await hooks.renderMixOffline(buffers, settings, sampleRate);
      const bytes = await (await fetch(exportUrl)).arrayBuffer();
      const server = await decoder.decodeAudioData(bytes);

      // Align: the lag (within ±2048 frames) with the highest correlation on the left channel.
      const a = [browser.getChannelData(0), browser.getChannelData(1)];
      const b = [server.getChannelData(0), server.getChannelData(1)];
      const n = Math.min(a[0]!.length, b[0]!.length);
      const win = Math.min(n - 4096, sampleRate);
      const start = 2048;
      let bestLag = 0;
      let best = -Infinity;
      for (let lag = -2048; lag <= 2048; lag++) {
        let dot = 0;
        for (let i = start; i < start + win; i++) dot += a[0]![i]! * b[0]![i + lag]! + a[1]![i]! * b[1]![i + lag]!;
        if (dot > best) {
          best = dot;
          bestLag = lag;
        }
      }
      let signal = 0;
      let residual = 0;
      for (let ch = 0; ch < 2; ch++) {
        for (let i = 2048; i < n - 2048; i++) {
          const x = a[ch]![i]!;
          const d = x - b[ch]![i + bestLag]!;
          signal += x * x;
          residual += d * d;
        }
      }
      return {
        lag: bestLag,
        signalRms: Math.sqrt(signal / (2 * (n - 4096))),
        residualDb: 10 * Math.log10(residual / signal),
        browserFrames: browser.length,
        serverFrames: server.length,
        serverRate: server.sampleRate,
        serverChannels: server.numberOfChannels,
      };
    },
    { stems: project.stems, settings, exportUrl },
  );
  console.log(`parity: ${JSON.stringify(result)}`);
  expect(result.serverChannels).toBe(2);
  expect(Math.abs(result.serverFrames - result.browserFrames)).toBeLessThan(4096);
  expect(result.signalRms).toBeGreaterThan(1e-4); // the mix is not silence
  expect(result.lag).toBe(0);
  expect(result.residualDb).toBeLessThanOrEqual(-40);
});
