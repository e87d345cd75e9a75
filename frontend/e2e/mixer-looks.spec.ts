// What the mixer looks like and how its controls behave, on a desktop and at 360 px: stems by
// name in words, lanes of one height, sliders alike in every lane, long and named for their
// stem, focused buttons keep their own keys, titles per view, the export's name before the click.
import type { APIRequestContext, Locator, Page } from "@playwright/test";
import { randomInt } from "node:crypto";
import { exportFileName } from "../src/lib/downloadName";
import { stemLabel } from "../src/lib/stemNames";
import { makeWav } from "./audio";
import { expect, screenshot, test } from "./fixtures";

interface ProjectBody {
  id: string;
  filename: string;
  status: string;
  stems: { name: string }[];
}

/**
 * Uploads `filename` (karaoke: two stems) through the API and waits until it is ready. The
 * song has a length of its own: the same file again would be answered with that project.
 */
async function readyProject(request: APIRequestContext, filename: string, twoStems: string | null): Promise<ProjectBody> {
  const song = makeWav(2.5 + randomInt(10_000) / 10_000);
  const created = await request.post("/api/projects", {
    multipart: { file: { name: filename, mimeType: "audio/wav", buffer: song }, ...(twoStems ? { two_stems: twoStems } : {}) },
  });
  expect(created.ok(), await created.text()).toBe(true);
  const { id } = (await created.json()) as ProjectBody;
  let body: ProjectBody | null = null;
  await expect
    .poll(async () => (body = (await (await request.get(`/api/projects/${id}`)).json()) as ProjectBody).status, { timeout: 150_000, intervals: [500] })
    .toBe("ready");
  return body!;
}

async function openMixer(page: Page, id: string): Promise<void> {
  await page.goto(`/#/projects/${id}`);
  await expect(page.locator('[data-testid="mixer"][data-ready="true"]')).toBeVisible({ timeout: 30_000 });
}

/** The colour at (fx, middle) of an element as drawn on screen: decoded in the page from a screenshot. */
async function pixelAt(page: Page, element: Locator, fx: number): Promise<[number, number, number]> {
  const png = (await element.screenshot()).toString("base64");
  return page.evaluate(
    async ({ png, fx }) => {
      const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext("2d")!;
      context.drawImage(bitmap, 0, 0);
      const [r, g, b] = context.getImageData(Math.round((bitmap.width - 1) * fx), Math.floor(bitmap.height / 2), 1, 1).data;
      return [r!, g!, b!] as [number, number, number];
    },
    { png, fx },
  );
}

async function laneHeights(page: Page): Promise<number[]> {
  return page.locator("[data-stem]").evaluateAll((lanes) => lanes.map((lane) => Math.round(lane.getBoundingClientRect().height)));
}

/** Checks every lane of the open mixer: names in words, one height, sliders alike, long and named. */
async function checkLanes(page: Page, project: ProjectBody, minSliderPx: number): Promise<void> {
  const heights = await laneHeights(page);
  expect(heights).toHaveLength(project.stems.length);
  expect(new Set(heights).size, `lane heights ${heights.join(", ")}`).toBe(1);
  const unfilled: string[] = [];
  for (const { name: id } of project.stems) {
    const name = stemLabel(id);
    const lane = page.getByRole("group", { name: `${name} stem`, exact: true });
    await expect(lane).toBeVisible();
    await expect(lane.locator(".lane-name")).toHaveText(name);
    const volume = page.getByRole("slider", { name: `${name} volume`, exact: true });
    const pan = page.getByRole("slider", { name: `${name} pan`, exact: true });
    await expect(volume).toHaveAttribute("aria-valuetext", "0 dB");
    await expect(lane.locator(".fader-value")).toHaveText("0 dB");
    await expect(lane.locator(".pan-value")).toHaveText("Centre");
    for (const slider of [volume, pan]) {
      const box = (await slider.boundingBox())!;
      expect(box.width, `${name} slider length`).toBeGreaterThanOrEqual(minSliderPx);
    }
    // The unfilled track: right of the volume thumb (0 dB is ~59 % of the travel), either end of the pan's.
    unfilled.push(String(await pixelAt(page, volume, 0.97)), String(await pixelAt(page, pan, 0.03)), String(await pixelAt(page, pan, 0.97)));
  }
  expect(new Set(unfilled), `unfilled track colours ${unfilled.join(" | ")}`).toEqual(new Set([unfilled[0]]));
  await expect(page.getByText(/no_vocals/)).toHaveCount(0);
}

test("desktop mixer: Instrumental lane like the others, long named faders, Space on a focused button but not a clicked one, export name", async ({ page, request }) => {
  const karaoke = await readyProject(request, "1918.wav", "vocals");
  expect(karaoke.stems.map((s) => s.name).sort()).toEqual(["no_vocals", "vocals"]);
  const four = await readyProject(request, "four stems.wav", null);

  await openMixer(page, four.id);
  await checkLanes(page, four, 150);
  await expect(page).toHaveTitle("four stems.wav — Mixer — IsoMix Studio");
  await screenshot(page, "mixer-desktop");

  await openMixer(page, karaoke.id);
  await checkLanes(page, karaoke, 150);
  await screenshot(page, "mixer-karaoke-desktop");

  // Space on a focused Mute presses Mute; it does not start playback. Enter likewise for Solo.
  const mute = page.getByRole("button", { name: "Mute Instrumental" });
  await mute.focus();
  await page.keyboard.press(" ");
  await expect(mute).toHaveAttribute("aria-pressed", "true");
  const solo = page.getByRole("button", { name: "Solo Vocals" });
  await solo.focus();
  await page.keyboard.press("Enter");
  await expect(solo).toHaveAttribute("aria-pressed", "true");
  await expect(page.getByRole("button", { name: "Play" })).toBeVisible();
  await page.waitForTimeout(300); // long enough for the clock to move if playback had started
  await expect(page.locator(".time span").first()).toHaveText("0:00");
  // Arrows on a focused fader move the fader, not the playhead.
  await page.getByRole("slider", { name: "Vocals volume" }).focus();
  await page.keyboard.press("ArrowRight");
  await expect(page.getByRole("slider", { name: "Vocals volume" })).toHaveAttribute("aria-valuetext", "+0.5 dB");
  await expect(page.locator(".time span").first()).toHaveText("0:00");

  // Clicked with the mouse (Chrome focuses the button, without a focus ring), Solo leaves Space
  // to the mixer: Space plays, and Solo stays as the click left it.
  const soloInstrumental = page.getByRole("button", { name: "Solo Instrumental" });
  await soloInstrumental.click();
  await expect(soloInstrumental).toHaveAttribute("aria-pressed", "true");
  await expect(soloInstrumental).toBeFocused();
  await page.keyboard.press(" ");
  await expect(page.getByRole("button", { name: "Pause" })).toBeVisible();
  await expect(soloInstrumental).toHaveAttribute("aria-pressed", "true");
  await page.keyboard.press(" ");
  await expect(page.getByRole("button", { name: "Play" })).toBeVisible();
  await expect(soloInstrumental).toHaveAttribute("aria-pressed", "true");

  // Export: "Ready: <name>", and the file is saved under that very name.
  await page.getByTestId("open-export").click();
  const dialog = page.getByRole("dialog", { name: "Export your mix" });
  await dialog.getByTestId("export-start").click();
  const name = exportFileName("1918.wav", "mp3");
  expect(name).toBe("1918 - mix.mp3");
  await expect(dialog.getByTestId("export-ready")).toHaveText(`✓ Ready: ${name}`, { timeout: 120_000 });
  await screenshot(page, "export-ready");
  const link = dialog.getByTestId("export-download");
  await expect(link).toHaveAttribute("download", name);
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  expect(download.suggestedFilename()).toBe(name);
  const head = await request.get((await link.getAttribute("href"))!);
  expect(decodeURIComponent(head.headers()["content-disposition"]!.split("filename*=UTF-8''")[1]!)).toBe(name);
});

test.describe("at 360 px", () => {
  test.use({ viewport: { width: 360, height: 740 } });

  test("phone mixer: lanes alike and of one height, sliders long enough, no sideways scroll", async ({ page, request }) => {
    const karaoke = await readyProject(request, "phone karaoke.wav", "vocals");
    await openMixer(page, karaoke.id);
    await checkLanes(page, karaoke, 160);
    expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
    await screenshot(page, "mixer-karaoke-360px");
  });
});

test("every view has its own title, and the tab has an icon", async ({ page, request }) => {
  await page.goto("/#/");
  await expect(page).toHaveTitle("Upload — IsoMix Studio");
  await page.getByRole("navigation").getByRole("link", { name: "Library" }).click();
  await expect(page).toHaveTitle("Library — IsoMix Studio");
  await page.goto("/#/nowhere");
  await expect(page).toHaveTitle("Page not found — IsoMix Studio");

  const icon = await page.locator('link[rel="icon"]').getAttribute("href");
  for (const path of [icon!, "/favicon.ico"]) {
    const response = await request.get(path);
    expect(response.status(), path).toBe(200);
    expect(response.headers()["content-type"], path).toMatch(/^image\/svg\+xml/);
    expect(await response.text(), path).toContain("<svg");
  }
});
