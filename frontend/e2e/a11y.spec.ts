// Every page at 360 px: no sideways scrolling, every control named, keyboard reaches the mixer.
import type { Page } from "@playwright/test";
import { makeWav } from "./audio";
import { expect, screenshot, test } from "./fixtures";

/** Controls with no accessible name (a simplified accname: label, aria, text, title). */
async function unnamedControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const controls = document.querySelectorAll<HTMLElement>("button, a[href], input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex='-1'])");
    const missing: string[] = [];
    for (const el of controls) {
      if (el.closest("[aria-hidden='true']") || el.getAttribute("aria-hidden") === "true") continue;
      const labelled = el.getAttribute("aria-labelledby")?.split(" ").map((id) => document.getElementById(id)?.textContent ?? "").join(" ");
      const label = "labels" in el ? [...((el as HTMLInputElement).labels ?? [])].map((l) => l.textContent).join(" ") : "";
      const name = [el.getAttribute("aria-label"), labelled, label, el.tagName === "INPUT" ? "" : el.textContent, el.getAttribute("title")].join("").trim();
      if (!name) missing.push(el.outerHTML.slice(0, 120));
    }
    return missing;
  });
}

async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

test.use({ viewport: { width: 360, height: 740 } });

test("pages work at 360 px, with every control named, and the mixer by keyboard alone", async ({ page, request }) => {
  const created = await request.post("/api/projects", {
    multipart: { file: { name: "small-screen.wav", mimeType: "audio/wav", buffer: makeWav(3) } },
  });
  const { id } = await created.json();
  await expect
    .poll(async () => (await (await request.get(`/api/projects/${id}`)).json()).status, { timeout: 150_000, intervals: [500] })
    .toBe("ready");

  for (const [name, path, ready] of [
    ["upload", "/#/", page.getByRole("button", { name: "Choose audio files…" })],
    ["library", "/#/library", page.locator('[data-testid="project-row"]').first()],
    ["mixer", `/#/projects/${id}`, page.locator('[data-testid="mixer"][data-ready="true"]')],
  ] as const) {
    await page.goto(path);
    await expect(ready).toBeVisible({ timeout: 30_000 });
    expect(await horizontalOverflow(page), `${name} scrolls sideways at 360 px`).toBeLessThanOrEqual(0);
    expect(await unnamedControls(page), `${name} has unnamed controls`).toEqual([]);
    await screenshot(page, `${name}-360px`);
  }

  // Sliders speak in dB and pan words.
  const stem = ((await (await request.get(`/api/projects/${id}`)).json()).stems[0] as { name: string }).name;
  const fader = page.getByRole("slider", { name: `${stem} volume` });
  await expect(fader).toHaveAttribute("aria-valuetext", "0 dB");
  await fader.focus();
  await page.keyboard.press("ArrowLeft");
  await expect(fader).toHaveAttribute("aria-valuetext", "-0.5 dB");
  await page.keyboard.press("Shift+ArrowUp");
  await expect(fader).toHaveAttribute("aria-valuetext", "+2.5 dB");
  await expect(page.getByRole("slider", { name: `${stem} pan` })).toHaveAttribute("aria-valuetext", "centre");

  // Keyboard alone: Tab from the top reaches Play, with a visible focus ring; Enter plays.
  await page.reload();
  await expect(page.locator('[data-testid="mixer"][data-ready="true"]')).toBeVisible();
  let reached = false;
  for (let i = 0; i < 15 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement?.getAttribute("aria-label") === "Play");
  }
  expect(reached, "Tab reaches the Play button").toBe(true);
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
  expect(outline).not.toBe("none");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("button", { name: "Pause" })).toBeVisible();
  await page.keyboard.press(" ");
  await expect(page.getByRole("button", { name: "Play" })).toBeVisible();
});
