// Exporting what was practised: at 75 % and −2 semitones with a section looped, the export
// dialog starts from those settings, "Loop" exports just the loop, and the file decodes to the
// loop's length at that tempo.
import { makeWav } from "./audio";
import { chooseFile, expect, test, waitUploadReady } from "./fixtures";

const SONG_SECONDS = 8.75; // a length no other spec uploads (the same file opens its project)
const LOOP_START = 5;
const TEMPO = 0.75;

test("the loop exported at 75 % and −2 semitones decodes to the loop's length at that tempo", async ({ page }) => {
  await page.goto("/#/");
  await chooseFile(page, { name: "loop-export.wav", mimeType: "audio/wav", buffer: makeWav(SONG_SECONDS) });
  const projectId = await waitUploadReady(page);
  await page.goto(`/#/projects/${projectId}`);
  await expect(page.locator('[data-testid="mixer"][data-ready="true"][data-mode="full"]')).toBeVisible({ timeout: 30_000 });

  // A section at 0:05 (a seek of 5 s, then N), looped with L: 0:05 to the end of the song.
  await page.getByTestId("add-section").click();
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("n");
  await page.keyboard.press("l");
  const transportLoop = page.getByRole("group", { name: "Transport" }).locator(".loop-controls button.toggle");
  await expect(transportLoop).toHaveText("Loop 0:05–0:08");

  const tempo = page.getByRole("slider", { name: "Tempo" });
  await tempo.focus();
  for (let i = 0; i < 5; i++) await page.keyboard.press("ArrowLeft");
  await expect(tempo).toHaveAttribute("aria-valuetext", /^75 %/);
  const pitch = page.getByRole("slider", { name: "Pitch" });
  await pitch.focus();
  await page.keyboard.press("ArrowLeft");
  await page.keyboard.press("ArrowLeft");

  await page.getByTestId("open-export").click();
  const dialog = page.getByRole("dialog", { name: "Export your mix" });
  await expect(dialog.getByTestId("export-tempo")).toHaveValue("75");
  await expect(dialog.getByTestId("export-pitch")).toHaveValue("-2");
  await dialog.getByRole("radio", { name: /WAV/ }).check();
  await dialog.getByTestId("export-range").getByRole("radio", { name: /Loop/ }).check();
  await dialog.getByTestId("export-start").click();
  const download = dialog.getByTestId("export-download");
  await expect(download).toBeVisible({ timeout: 60_000 });
  const href = await download.getAttribute("href");
  expect(href).toBeTruthy();

  const decoded = await page.evaluate(async (url) => {
    const bytes = await (await fetch(url)).arrayBuffer();
    const context = new OfflineAudioContext(2, 1, 44100);
    const audio = await context.decodeAudioData(bytes);
    const x = audio.getChannelData(0);
    let energy = 0;
    for (const v of x) energy += v * v;
    return { seconds: audio.duration, rate: audio.sampleRate, rms: Math.sqrt(energy / x.length) };
  }, href!);
  console.log(`loop export: ${JSON.stringify(decoded)}`);
  expect(decoded.rate).toBe(44100);
  expect(decoded.seconds).toBeCloseTo((SONG_SECONDS - LOOP_START) / TEMPO, 1);
  expect(decoded.rms).toBeGreaterThan(0.01);
});
