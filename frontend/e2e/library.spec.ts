import { makeWav } from "./audio";
import { expect, test } from "./fixtures";

test("library: delete asks for confirmation, Cancel keeps the song, Delete removes it", async ({ page, request }) => {
  const created = await request.post("/api/projects", {
    multipart: { file: { name: "to-delete.wav", mimeType: "audio/wav", buffer: makeWav(1) } },
  });
  expect(created.status()).toBe(202);
  const { id } = await created.json();

  await page.goto("/#/library");
  const row = page.locator('[data-testid="project-row"]').filter({ hasText: "to-delete.wav" });
  await expect(row).toBeVisible();
  for (const label of ["Duration", "Model", "Created", "Expires"]) await expect(row.getByText(label)).toBeVisible();

  await row.getByRole("button", { name: "Delete to-delete.wav" }).click();
  const dialog = page.getByRole("dialog", { name: "Delete this song?" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await expect(row).toBeVisible();

  await row.getByRole("button", { name: "Delete to-delete.wav" }).click();
  await dialog.getByRole("button", { name: "Delete" }).click();
  await expect(row).toHaveCount(0);
  expect((await request.get(`/api/projects/${id}`)).status()).toBe(404);
});
