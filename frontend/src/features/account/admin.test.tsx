// @vitest-environment happy-dom
// The Admin page (#/admin): the users from GET /api/admin/users (with the bearer token), setting
// a plan (the body sent), a refusal said in an alert next to the action, creating a user, and
// the message for anyone who is not an admin.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { acceptToken, resetAuthForTests } from "../../lib/auth";
import { me } from "../../lib/plans.test-util";
import { SessionContext, type Session } from "../../lib/session";
import type { AdminUser, PublicConfig } from "../../lib/types";
import { AdminPage, untilIso } from "./AdminPage";

const CONFIG: PublicConfig = {
  default_model: "htdemucs",
  max_upload_bytes: 200_000_000,
  max_duration_seconds: 1800,
  accepted_formats: ["WAV"],
  accepted_extensions: [".wav"],
  auth_mode: "accounts",
  signup: true,
};

const ADA: AdminUser = { id: "u1", email: "ada@example.com", is_admin: true, disabled: false, created_at: "2026-01-01T00:00:00Z", plan: "free", plan_until: null };
const BOB: AdminUser = { id: "u2", email: "bob@example.com", is_admin: false, disabled: false, created_at: "2026-01-02T00:00:00Z", plan: "free", plan_until: null };
const CAT: AdminUser = { id: "u3", email: "cat@example.com", is_admin: false, disabled: true, created_at: "2026-01-03T00:00:00Z", plan: "pro", plan_until: "2026-06-30T21:59:59Z" };

let container: HTMLDivElement;
let root: Root | null = null;
const fetchMock = vi.fn<(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>>();

function adminSession(): Session {
  const m = me();
  return { config: CONFIG, status: "signed_in", me: { ...m, user: { ...m.user, is_admin: true } }, reloadMe: () => {} };
}

async function render(value: Session): Promise<void> {
  root = createRoot(container);
  await act(async () =>
    root!.render(
      <SessionContext.Provider value={value}>
        <AdminPage />
      </SessionContext.Provider>,
    ),
  );
}

async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !until(); i++) {
    await act(async () => new Promise((r) => setTimeout(r, 0)));
  }
}

function byLabel<T extends HTMLElement = HTMLInputElement>(text: string): T {
  const label = [...container.querySelectorAll("label")].find((l) => l.textContent?.trim() === text);
  if (!label) throw new Error(`no label ${text}`);
  return container.querySelector<T>(`#${CSS.escape(label.htmlFor)}`)!;
}

async function change(input: HTMLInputElement | HTMLSelectElement, value: string): Promise<void> {
  await act(async () => {
    const proto = input instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, "value")!.set!.call(input, value);
    input.dispatchEvent(new Event(input instanceof HTMLSelectElement ? "change" : "input", { bubbles: true }));
  });
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** The requests the page sent: method, path, bearer header, JSON body. */
async function sent(i: number): Promise<{ method: string; path: string; auth: string | null; body: unknown }> {
  const request = fetchMock.mock.calls[i]![0] as Request;
  const text = await request.clone().text();
  return { method: request.method, path: new URL(request.url, "http://x").pathname, auth: request.headers.get("Authorization"), body: text ? JSON.parse(text) : null };
}

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  container = document.createElement("div");
  document.body.append(container);
  resetAuthForTests();
  acceptToken({ access_token: "admin-token", expires_in: 900 });
  fetchMock.mockReset();
  vi.stubGlobal("fetch", fetchMock);
});

afterEach(async () => {
  if (root) await act(async () => root!.unmount());
  root = null;
  container.remove();
  vi.unstubAllGlobals();
  resetAuthForTests();
});

it("lists the users (with the bearer token): email, plan, until, admin, disabled, created", async () => {
  fetchMock.mockResolvedValueOnce(json([ADA, BOB, CAT]));
  await render(adminSession());
  await settle(() => container.querySelectorAll('[data-testid="admin-user-row"]').length === 3);
  expect(await sent(0)).toMatchObject({ method: "GET", path: "/api/admin/users", auth: "Bearer admin-token" });
  const rows = [...container.querySelectorAll('[data-testid="admin-user-row"]')];
  const cells = (row: Element) => [...row.querySelectorAll("th, td")].slice(0, 6).map((c) => c.textContent ?? "");
  expect(cells(rows[0]!).slice(0, 5)).toEqual(["ada@example.com", "Free", "", "yes", "no"]);
  const cat = cells(rows[2]!);
  expect([cat[0], cat[1], cat[3], cat[4]]).toEqual(["cat@example.com", "Pro", "no", "yes"]);
  expect(cat[2]).toMatch(/2026/); // until
  expect(cat[5]).toMatch(/2026/); // created
  // No disabling yourself, nor someone already disabled.
  expect(container.querySelector('button[aria-label="Disable ada@example.com"]')).toBeNull();
  expect(container.querySelector('button[aria-label="Disable cat@example.com"]')).toBeNull();
  expect(container.querySelector('button[aria-label="Disable bob@example.com"]')).not.toBeNull();
  expect(byLabel<HTMLSelectElement>("Plan for bob@example.com").value).toBe("free");
});

it("set plan sends {plan, until} and shows the new plan; a refusal is an alert in that row", async () => {
  fetchMock.mockResolvedValueOnce(json([ADA, BOB]));
  await render(adminSession());
  await settle(() => container.querySelectorAll('[data-testid="admin-user-row"]').length === 2);
  const until = byLabel("Pro until (optional) for bob@example.com");
  expect(until.disabled).toBe(true); // Free has no end date
  await change(byLabel<HTMLSelectElement>("Plan for bob@example.com"), "pro");
  expect(until.disabled).toBe(false);
  await change(until, "2030-12-31");

  fetchMock.mockResolvedValueOnce(json({ ...BOB, plan: "pro", plan_until: untilIso("2030-12-31") }));
  await act(async () => container.querySelector<HTMLButtonElement>('button[aria-label="Set plan for bob@example.com"]')!.click());
  await settle(() => fetchMock.mock.calls.length === 2 && container.textContent!.includes("Plan set."));
  expect(await sent(1)).toEqual({
    method: "POST",
    path: "/api/admin/users/u2/plan",
    auth: "Bearer admin-token",
    body: { plan: "pro", until: new Date("2030-12-31T23:59:59").toISOString() },
  });
  const bob = container.querySelectorAll('[data-testid="admin-user-row"]')[1]!;
  expect(bob.querySelectorAll("td")[0]!.textContent).toBe("Pro");
  expect(bob.querySelectorAll("td")[1]!.textContent).toMatch(/2030/);

  // Open-ended Free; the server refuses: its words in an alert next to the action.
  await change(byLabel<HTMLSelectElement>("Plan for bob@example.com"), "free");
  fetchMock.mockResolvedValueOnce(json({ detail: "`until` must be in the future.", code: "invalid_options" }, 422));
  await act(async () => container.querySelector<HTMLButtonElement>('button[aria-label="Set plan for bob@example.com"]')!.click());
  await settle(() => bob.querySelector('[role="alert"]') !== null);
  expect((await sent(2)).body).toEqual({ plan: "free", until: null });
  expect(bob.querySelector('[role="alert"]')?.textContent).toContain("`until` must be in the future.");
  expect(container.querySelectorAll('[role="alert"]').length).toBe(1);
});

it("disable asks first (the confirm dialog), then posts; create user sends the form", async () => {
  fetchMock.mockResolvedValueOnce(json([ADA, BOB]));
  await render(adminSession());
  await settle(() => container.querySelectorAll('[data-testid="admin-user-row"]').length === 2);
  const dialog = container.querySelector("dialog")!;
  await act(async () => container.querySelector<HTMLButtonElement>('button[aria-label="Disable bob@example.com"]')!.click());
  expect(dialog.textContent).toContain("bob@example.com can no longer sign in");
  expect(fetchMock).toHaveBeenCalledTimes(1);
  fetchMock.mockResolvedValueOnce(json({ ...BOB, disabled: true }));
  await act(async () => [...dialog.querySelectorAll("button")].find((b) => b.textContent === "Disable")!.click());
  await settle(() => container.querySelector('button[aria-label="Disable bob@example.com"]') === null);
  expect(await sent(1)).toMatchObject({ method: "POST", path: "/api/admin/users/u2/disable", auth: "Bearer admin-token" });
  expect(container.querySelectorAll('[data-testid="admin-user-row"]')[1]!.querySelectorAll("td")[3]!.textContent).toBe("yes");

  await change(byLabel("Email"), " dora@example.com ");
  await change(byLabel("Password"), "a long enough password");
  await change(byLabel<HTMLSelectElement>("Plan"), "pro");
  await act(async () => byLabel("Admin").click());
  fetchMock.mockResolvedValueOnce(json({ ...BOB, id: "u4", email: "dora@example.com", plan: "pro", is_admin: true }, 201));
  await act(async () => [...container.querySelectorAll("button")].find((b) => b.textContent === "Create user")!.click());
  await settle(() => container.querySelectorAll('[data-testid="admin-user-row"]').length === 3);
  expect(await sent(2)).toMatchObject({
    method: "POST",
    path: "/api/admin/users",
    body: { email: "dora@example.com", password: "a long enough password", plan: "pro", admin: true },
  });
  expect(container.textContent).toContain("Created dora@example.com.");
});

it("a signed-in user who is not an admin sees only the message, and nothing is asked of the server", async () => {
  await render({ config: CONFIG, status: "signed_in", me: me(), reloadMe: () => {} });
  expect(container.querySelector('[data-testid="admin-only"]')?.textContent).toBe("Only an admin can see this page.");
  expect(container.querySelector("table")).toBeNull();
  expect(fetchMock).not.toHaveBeenCalled();
});
