// Tempo and pitch in the browser: the mixer's controls at 75 % and −2 semitones play through the
// Signalsmith Stretch worklet (served from our origin, its WASM allowed by the CSP), and the
// offline render of the same settings (OfflineAudioContext, the same graph and worklet) has the
// pitch and length asked for; the click track sounds on the beats, in song time.
import { makeWav } from "./audio";
import { chooseFile, expect, meterLevel, test, waitUploadReady } from "./fixtures";
import type {} from "../src/testing"; // window.__isomix

const TEMPO = 0.75;
const PITCH = -2;

test("tempo 75 % and pitch −2: the mixer plays them, and the offline render has their pitch and length", async ({ page }) => {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.goto("/#/");
  // A length no other test uploads (the same file again would open that project).
  await chooseFile(page, { name: "tempo.wav", mimeType: "audio/wav", buffer: makeWav(4.25) });
  const projectId = await waitUploadReady(page);
  await page.goto(`/#/projects/${projectId}`);
  await expect(page.locator('[data-testid="mixer"][data-ready="true"][data-mode="full"]')).toBeVisible({ timeout: 30_000 });
  expect(await page.evaluate(() => window.__isomix !== undefined), "the e2e build of the UI").toBe(true);

  // Keyboard: the sliders' own keys (Home/End, arrows) set 75 % and −2 semitones.
  const tempo = page.getByRole("slider", { name: "Tempo" });
  const pitch = page.getByRole("slider", { name: "Pitch" });
  await tempo.focus();
  for (let i = 0; i < 5; i++) await page.keyboard.press("ArrowLeft");
  await expect(tempo).toHaveAttribute("aria-valuetext", /^75 %/);
  await pitch.focus();
  await page.keyboard.press("ArrowLeft");
  await page.keyboard.press("ArrowLeft");
  await expect(pitch).toHaveAttribute("aria-valuetext", /^−2 semitones/);

  // Play: the master meter moves, so the stretch passes the music on (silence if its WASM failed).
  await page.getByRole("button", { name: "Play" }).click();
  await expect(page.getByRole("button", { name: "Pause" })).toBeVisible();
  const master = page.locator(".master .meter");
  await expect.poll(() => meterLevel(master), { timeout: 10_000 }).toBeGreaterThan(0.01);
  await page.getByRole("button", { name: "Pause" }).click();

  const result = await page.evaluate(
    async ({ tempo, pitch }) => {
      const hooks = window.__isomix!;
      const rate = 44100;
      const seconds = 3;
      const tone = 440;
      // Two "stems": a 440 Hz tone, and silence (the mix is their sum, through the same graph).
      const make = (f: (t: number) => number) => {
        const b = new AudioBuffer({ numberOfChannels: 2, length: seconds * rate, sampleRate: rate });
        const data = Float32Array.from({ length: b.length }, (_, i) => f(i / rate));
        b.copyToChannel(data, 0);
        b.copyToChannel(data, 1);
        return b;
      };
      const buffers = { tone: make((t) => 0.5 * Math.sin(2 * Math.PI * tone * t)), other: make(() => 0) };
      const stems = { tone: { gainDb: 0, mute: false, solo: false, pan: 0 }, other: { gainDb: 0, mute: false, solo: false, pan: 0 } };
      const out = await hooks.renderMixOffline(buffers, { stems, masterGainDb: 0 }, rate, { tempo, pitch });
      const x = out.getChannelData(0);
      // Fundamental by zero crossings (interpolated) over the steady middle.
      const from = Math.round(0.5 * rate);
      const to = Math.round((out.duration - 0.5) * rate);
      let first = -1;
      let last = -1;
      let count = 0;
      for (let i = from; i < to; i++) {
        if (x[i - 1]! < 0 && x[i]! >= 0) {
          const at = i - 1 + x[i - 1]! / (x[i - 1]! - x[i]!);
          if (first < 0) first = at;
          last = at;
          count++;
        }
      }
      const hz = ((count - 1) * rate) / (last - first);
      const rms = (a: number, b: number) => {
        let s = 0;
        for (let i = Math.round(a * rate); i < Math.round(b * rate); i++) s += x[i]! ** 2;
        return Math.sqrt(s / Math.max(1, Math.round(b * rate) - Math.round(a * rate)));
      };

      // The click: silent stems, beats every 0.5 song s, a downbeat every 2 s; at 75 % each beat
      // is heard at beat / 0.75.
      const beats = [0.25, 0.75, 1.25, 1.75, 2.25, 2.75];
      const silent = { other: buffers.other };
      const clicked = await hooks.renderMixOffline(silent, { stems: { other: stems.other }, masterGainDb: 0 }, rate, {
        tempo,
        pitch,
        click: { gainDb: 0, mute: false, pan: 0, beats, downbeats: [0.25, 2.25] },
      });
      const c = clicked.getChannelData(0);
      const peakNear = (t: number, width: number) => {
        let p = 0;
        for (let i = Math.max(0, Math.round(t * rate)); i < Math.min(c.length, Math.round((t + width) * rate)); i++) p = Math.max(p, Math.abs(c[i]!));
        return p;
      };
      return {
        frames: out.length,
        expectedFrames: Math.round((seconds / tempo) * rate),
        hz,
        expectedHz: tone * 2 ** (pitch / 12),
        startRms: rms(0.05, 0.3),
        endRms: rms(out.duration - 0.3, out.duration - 0.1),
        clickOnBeats: beats.map((b) => peakNear(b / tempo, 0.03)),
        // between the beats: from 0.1 s after a click to 0.1 s before the next
        clickBetween: beats.slice(0, -1).map((b) => peakNear(b / tempo + 0.1, 0.5 / tempo - 0.2)),
      };
    },
    { tempo: TEMPO, pitch: PITCH },
  );
  console.log(`tempo/pitch render: ${JSON.stringify(result)}`);
  // Length: the song's over the tempo, to the frame.
  expect(Math.abs(result.frames - result.expectedFrames)).toBeLessThanOrEqual(1);
  // Pitch: 440 Hz two semitones down (392 Hz) within 1 %; not the tempo's own shift (330 Hz).
  expect(Math.abs(result.hz / result.expectedHz - 1)).toBeLessThan(0.01);
  // The tone fills the render from its start (the stretch's latency cut) to its end.
  expect(result.startRms).toBeGreaterThan(0.1);
  expect(result.endRms).toBeGreaterThan(0.1);
  // A click on every beat, in song time at 75 %, and nothing in between.
  for (const peak of result.clickOnBeats) expect(peak).toBeGreaterThan(0.3);
  for (const peak of result.clickBetween) expect(peak).toBeLessThan(0.01);
  expect(errors.filter((e) => /Content Security Policy|WebAssembly|worklet/i.test(e))).toEqual([]);
});
