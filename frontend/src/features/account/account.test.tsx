// @vitest-environment happy-dom
// The sign-in form (labels, autocomplete, the server's refusal in an alert), the Account page
// (usage, limits, plans, the upgrade action) and the Pro-only options shown locked with a reason.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { initialTracks } from "../../audio/mixmath";
import { api } from "../../lib/api";
import { authStatus, resetAuthForTests } from "../../lib/auth";
import { FREE, PRO, me } from "../../lib/plans.test-util";
import { SessionContext, type Session } from "../../lib/session";
import type { ModelInfo, PublicConfig } from "../../lib/types";
import { ExportDialog } from "../export/ExportDialog";
import { ModelSelect } from "../upload/ModelSelect";
import { AccountPage } from "./AccountPage";
import { SignInPage } from "./SignInPage";

vi.mock("../../lib/api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../../lib/api")>();
  return { ...actual, api: { ...actual.api, plans: vi.fn(), tokens: vi.fn(), checkout: vi.fn() } };
});

const CONFIG: PublicConfig = {
  default_model: "htdemucs",
  max_upload_bytes: 200_000_000,
  max_duration_seconds: 1800,
  accepted_formats: ["WAV"],
  accepted_extensions: [".wav"],
  auth_mode: "accounts",
  signup: true,
};

let container: HTMLDivElement;
let root: Root | null = null;
const fetchMock = vi.fn<(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>>();

function session(patch: Partial<Session> = {}): Session {
  return { config: CONFIG, status: "signed_in", me: me(), reloadMe: () => {}, ...patch };
}

async function render(element: React.ReactNode, value: Session = session()): Promise<void> {
  root = createRoot(container);
  await act(async () => root!.render(<SessionContext.Provider value={value}>{element}</SessionContext.Provider>));
}

async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !until(); i++) {
    await act(async () => new Promise((r) => setTimeout(r, 0)));
  }
}

function byLabel(text: string): HTMLInputElement {
  const label = [...container.querySelectorAll("label")].find((l) => l.textContent?.trim() === text);
  if (!label) throw new Error(`no label ${text}`);
  return container.querySelector(`#${CSS.escape(label.htmlFor)}`)!;
}

async function type(input: HTMLInputElement, value: string): Promise<void> {
  await act(async () => {
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!;
    setter.call(input, value);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  container = document.createElement("div");
  document.body.append(container);
  resetAuthForTests();
  fetchMock.mockReset();
  vi.stubGlobal("fetch", fetchMock);
  vi.mocked(api.plans).mockResolvedValue({ plans: [FREE, PRO], checkout: false });
  vi.mocked(api.tokens).mockResolvedValue([]);
});

afterEach(async () => {
  if (root) await act(async () => root!.unmount());
  root = null;
  container.remove();
  vi.unstubAllGlobals();
  resetAuthForTests();
});

it("sign-in: labelled fields with autocomplete; a refusal is said in an alert; success signs in", async () => {
  await render(<SignInPage mode="signin" />, session({ status: "signed_out", me: null }));
  const email = byLabel("Email");
  const password = byLabel("Password");
  expect(email.type).toBe("email");
  expect(email.autocomplete).toBe("email");
  expect(password.type).toBe("password");
  expect(password.autocomplete).toBe("current-password");
  expect(container.querySelector('a[href="#/signup"]')?.textContent).toBe("Create an account");

  await type(email, " ada@example.com ");
  await type(password, "wrong");
  fetchMock.mockResolvedValueOnce(new Response(JSON.stringify({ detail: "The email or password is not right.", code: "bad_credentials" }), { status: 401 }));
  await act(async () => container.querySelector<HTMLButtonElement>('button[type="submit"]')!.click());
  await settle(() => container.querySelector('[role="alert"]') !== null);
  expect(container.querySelector('[role="alert"]')?.textContent).toContain("The email or password is not right.");
  expect(JSON.parse(String(fetchMock.mock.calls[0]![1]!.body))).toEqual({ email: "ada@example.com", password: "wrong" });
  expect(authStatus()).not.toBe("signed_in");

  fetchMock.mockResolvedValueOnce(new Response(JSON.stringify({ access_token: "t", token_type: "bearer", expires_in: 900 }), { status: 200 }));
  await act(async () => container.querySelector<HTMLButtonElement>('button[type="submit"]')!.click());
  await settle(() => authStatus() === "signed_in");
  expect(authStatus()).toBe("signed_in");
  expect(localStorage.length + sessionStorage.length).toBe(0);
});

it("sign-up asks for a new password; without open sign-up the sign-in page offers none", async () => {
  await render(<SignInPage mode="signup" />, session({ status: "signed_out", me: null }));
  expect(byLabel("Password").autocomplete).toBe("new-password");
  expect(container.querySelector("h1")?.textContent).toBe("Create an account");
  await act(async () => root!.unmount());

  root = createRoot(container);
  await act(async () =>
    root!.render(
      <SessionContext.Provider value={session({ status: "signed_out", me: null, config: { ...CONFIG, signup: false } })}>
        <SignInPage mode="signin" />
      </SessionContext.Provider>,
    ),
  );
  expect(container.querySelector('a[href="#/signup"]')).toBeNull();
});

it("the Account page shows the plan, today's usage with what is left and when it resets, storage, and the plans", async () => {
  await render(<AccountPage />);
  await settle(() => container.querySelector(".plan-table") !== null);
  expect(container.querySelector('[data-testid="account-email"]')?.textContent).toBe("ada@example.com");
  expect(container.querySelector('[data-testid="account-plan"]')?.textContent).toBe("Free");
  expect(container.querySelector('[data-testid="account-uploads"]')?.textContent).toMatch(/^1 of 3: 2 left, resets (today|tomorrow) at /);
  expect(container.querySelector('[data-testid="account-storage"]')?.textContent).toBe("12.3 MB in 4 songs");
  const table = container.querySelector(".plan-table")!.textContent!;
  expect(table).toContain("Free (yours)");
  expect(table).toContain("MP3, WAV, FLAC");
  // No checkout on this server: the admin upgrades.
  expect(container.querySelector('[data-testid="upgrade"]')?.textContent).toBe("Ask the admin of this server to upgrade your plan.");
  expect(container.textContent).toContain("Change password");
  expect(byLabel("New password").autocomplete).toBe("new-password");
  expect(byLabel("Current password").autocomplete).toBe("current-password");
});

it("the Account page: the upgrade goes to checkout when the server has it; the note after it", async () => {
  vi.mocked(api.plans).mockResolvedValue({ plans: [FREE, PRO], checkout: true });
  vi.mocked(api.checkout).mockReturnValue(new Promise(() => {}));
  await render(<AccountPage checkout="success" />);
  await settle(() => container.querySelector('[data-testid="upgrade"] button') !== null);
  expect(container.querySelector('[data-testid="checkout-note"]')?.getAttribute("role")).toBe("status");
  await act(async () => container.querySelector<HTMLButtonElement>('[data-testid="upgrade"] button')!.click());
  expect(api.checkout).toHaveBeenCalledWith("month");
});

it("a Pro user is offered no upgrade; usage without a daily limit says so", async () => {
  await render(<AccountPage />, session({ me: me(PRO, { uploads_left: null }) }));
  await settle(() => container.querySelector(".plan-table") !== null);
  expect(container.querySelector('[data-testid="upgrade"]')).toBeNull();
  expect(container.querySelector('[data-testid="account-uploads"]')?.textContent).toBe("1 (no daily limit)");
});

const mix = { masterGainDb: 0, stems: initialTracks(["vocals"]) };

it("the export dialog shows WAV, FLAC and the higher MP3 bitrates locked, with the reason", async () => {
  await render(<ExportDialog open projectId="p1" filename="song.wav" mix={mix} onClose={() => {}} />);
  const radio = (v: string) => container.querySelector<HTMLInputElement>(`input[type="radio"][value="${v}"]`)!;
  expect(radio("mp3").disabled).toBe(false);
  expect(radio("wav").disabled).toBe(true);
  expect(radio("flac").disabled).toBe(true);
  expect(radio("wav").closest("label")?.textContent).toContain("Pro");
  expect(container.querySelector('[data-testid="export-format-locked"]')?.textContent).toContain("WAV is in Pro: the Free plan exports MP3.");
  const options = [...container.querySelectorAll<HTMLOptionElement>("option")];
  expect(options.filter((o) => o.disabled).map((o) => o.value)).toEqual(["256", "320"]);
  // The choice falls to what the plan allows.
  expect(container.querySelector<HTMLSelectElement>("select")!.value).toBe("192");
  expect(container.querySelector('[data-testid="export-bitrate-locked"]')?.textContent).toContain("above 192 kbps are in Pro");
});

it("on Pro (or with no plan known) nothing in the export dialog is locked", async () => {
  await render(<ExportDialog open projectId="p1" filename="song.wav" mix={mix} onClose={() => {}} />, session({ me: me(PRO) }));
  expect([...container.querySelectorAll<HTMLInputElement>('input[type="radio"]')].some((r) => r.disabled)).toBe(false);
  expect(container.querySelector<HTMLSelectElement>("select")!.value).toBe("320");
  expect(container.querySelector('[data-testid="export-format-locked"]')).toBeNull();
});

function model(name: string): ModelInfo {
  return {
    name,
    description: "",
    stems: ["vocals", "other"],
    installed: true,
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
  };
}

it("the model picker lists models outside the plan, disabled, with the reason", async () => {
  await render(<ModelSelect models={[model("htdemucs"), model("htdemucs_ft")]} value="htdemucs" onChange={() => {}} />);
  const options = [...container.querySelectorAll<HTMLOptionElement>("option")];
  expect(options.map((o) => [o.value, o.disabled, o.textContent])).toEqual([
    ["htdemucs", false, "htdemucs"],
    ["htdemucs_ft", true, "htdemucs_ft (Pro)"],
  ]);
  expect(container.querySelector('[data-testid="models-locked"]')?.textContent).toContain("Not in the Free plan");
});

it("API tokens: a new token's secret is shown once with a copy button; tokens can be revoked", async () => {
  const { TokensSection } = await import("./TokensSection");
  const row = { id: "t1", name: "laptop", prefix: "imx_ab12", created_at: "2026-01-01T00:00:00Z", last_used_at: null, revoked: false };
  vi.mocked(api.tokens).mockResolvedValueOnce([]).mockResolvedValue([row]);
  const create = vi.spyOn(api, "createToken").mockResolvedValue({ ...row, token: "imx_ab12_secret_value" });
  const revoke = vi.spyOn(api, "revokeToken").mockResolvedValue();
  await render(<TokensSection />);
  await settle(() => container.textContent!.includes("No tokens."));
  await type(byLabel("Token name"), "laptop");
  await act(async () => container.querySelector<HTMLButtonElement>('button[type="submit"]')!.click());
  await settle(() => container.querySelector('[data-testid="token-row"]') !== null);
  expect(create).toHaveBeenCalledWith("laptop");
  const secret = container.querySelector('[data-testid="token-secret"]')!;
  expect(secret.textContent).toContain("imx_ab12_secret_value");
  expect(secret.textContent).toContain("not shown again");
  expect([...secret.querySelectorAll("button")].map((b) => b.textContent)).toContain("Copy");
  await act(async () => container.querySelector<HTMLButtonElement>('button[aria-label="Revoke laptop"]')!.click());
  await settle(() => container.querySelector('[data-testid="token-secret"]') === null);
  expect(revoke).toHaveBeenCalledWith("t1");
});
