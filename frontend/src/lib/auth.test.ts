// @vitest-environment happy-dom
// The access token lives in memory only; a 401 refreshes once and retries; a refused refresh
// signs out; concurrent 401s share one refresh (a refresh token used twice ends the sign-in).
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { accessTokenNow, acceptToken, authFetch, authStatus, refreshSession, resetAuthForTests, signIn, signOut, REFRESH_EARLY_MS } from "./auth";

const fetchMock = vi.fn<(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>>();

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function urlOf(input: RequestInfo | URL): string {
  return input instanceof Request ? new URL(input.url).pathname : new URL(String(input), "http://localhost").pathname;
}

function bearerOf(input: RequestInfo | URL): string | null {
  return input instanceof Request ? input.headers.get("Authorization") : null;
}

beforeEach(() => {
  resetAuthForTests();
  localStorage.clear();
  sessionStorage.clear();
  fetchMock.mockReset();
  vi.stubGlobal("fetch", fetchMock);
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  resetAuthForTests();
});

function expectNothingStored(): void {
  expect(localStorage.length).toBe(0);
  expect(sessionStorage.length).toBe(0);
  expect(document.cookie).not.toContain("tok");
}

it("signs in with the credentials, keeps the token in memory only and sends it as a bearer header", async () => {
  fetchMock.mockResolvedValueOnce(json(200, { access_token: "tok-1", token_type: "bearer", expires_in: 900 }));
  await signIn("login", "a@example.com", "pw");
  const [url, init] = fetchMock.mock.calls[0]!;
  expect(url).toBe("/api/auth/login");
  expect(init?.method).toBe("POST");
  expect(init?.credentials).toBe("same-origin");
  expect(JSON.parse(String(init?.body))).toEqual({ email: "a@example.com", password: "pw" });
  expect(authStatus()).toBe("signed_in");
  expect(accessTokenNow()).toBe("tok-1");
  expectNothingStored();

  fetchMock.mockResolvedValueOnce(json(200, { ok: true }));
  await authFetch(new Request("http://localhost/api/projects"));
  expect(bearerOf(fetchMock.mock.calls[1]![0])).toBe("Bearer tok-1");
  expectNothingStored();
});

it("a refused sign-in throws the server's words and stays signed out", async () => {
  fetchMock.mockResolvedValueOnce(json(401, { detail: "The email or password is not right.", code: "bad_credentials" }));
  await expect(signIn("login", "a@example.com", "nope")).rejects.toMatchObject({ status: 401, code: "bad_credentials", detail: "The email or password is not right." });
  expect(accessTokenNow()).toBeNull();
  expect(authStatus()).toBe("loading");
});

it("a 401 refreshes once (same-origin POST) and retries with the new token", async () => {
  acceptToken({ access_token: "old", expires_in: 900 });
  fetchMock
    .mockResolvedValueOnce(json(401, { detail: "expired", code: "unauthenticated" }))
    .mockResolvedValueOnce(json(200, { access_token: "new", expires_in: 900 }))
    .mockResolvedValueOnce(json(200, { items: [] }));
  const response = await authFetch(new Request("http://localhost/api/projects"));
  expect(response.status).toBe(200);
  expect(fetchMock).toHaveBeenCalledTimes(3);
  expect(bearerOf(fetchMock.mock.calls[0]![0])).toBe("Bearer old");
  expect(fetchMock.mock.calls[1]![0]).toBe("/api/auth/refresh");
  expect(fetchMock.mock.calls[1]![1]).toMatchObject({ method: "POST", credentials: "same-origin" });
  expect(urlOf(fetchMock.mock.calls[2]![0])).toBe("/api/projects");
  expect(bearerOf(fetchMock.mock.calls[2]![0])).toBe("Bearer new");
  expect(accessTokenNow()).toBe("new");
  expectNothingStored();
});

it("the retry sends the request's body again", async () => {
  acceptToken({ access_token: "old", expires_in: 900 });
  const bodies: string[] = [];
  fetchMock.mockImplementation(async (input) => {
    if (input === "/api/auth/refresh") return json(200, { access_token: "new", expires_in: 900 });
    bodies.push(await (input as Request).text());
    return bodies.length === 1 ? json(401, {}) : json(201, {});
  });
  await authFetch(new Request("http://localhost/api/tokens", { method: "POST", body: '{"name":"x"}' }));
  expect(bodies).toEqual(['{"name":"x"}', '{"name":"x"}']);
});

it("when the refresh is refused too: signed out, the 401 is the answer, no second retry", async () => {
  acceptToken({ access_token: "old", expires_in: 900 });
  fetchMock.mockResolvedValueOnce(json(401, {})).mockResolvedValueOnce(json(401, { detail: "The sign-in has ended; sign in again.", code: "unauthenticated" }));
  const response = await authFetch(new Request("http://localhost/api/me"));
  expect(response.status).toBe(401);
  expect(fetchMock).toHaveBeenCalledTimes(2);
  expect(authStatus()).toBe("signed_out");
  expect(accessTokenNow()).toBeNull();
});

it("concurrent 401s share one refresh", async () => {
  acceptToken({ access_token: "old", expires_in: 900 });
  let refreshes = 0;
  fetchMock.mockImplementation(async (input) => {
    if (input === "/api/auth/refresh") {
      refreshes++;
      await new Promise((r) => setTimeout(r, 5));
      return json(200, { access_token: "new", expires_in: 900 });
    }
    return bearerOf(input) === "Bearer new" ? json(200, {}) : json(401, {});
  });
  const answers = await Promise.all([1, 2, 3].map(() => authFetch(new Request("http://localhost/api/projects"))));
  expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
  expect(refreshes).toBe(1);
});

it("refreshes before the token expires", async () => {
  vi.useFakeTimers();
  acceptToken({ access_token: "first", expires_in: 900 });
  fetchMock.mockResolvedValue(json(200, { access_token: "second", expires_in: 900 }));
  await vi.advanceTimersByTimeAsync(900_000 - REFRESH_EARLY_MS - 1000);
  expect(fetchMock).not.toHaveBeenCalled();
  await vi.advanceTimersByTimeAsync(2000);
  expect(fetchMock).toHaveBeenCalledWith("/api/auth/refresh", expect.objectContaining({ method: "POST" }));
  expect(accessTokenNow()).toBe("second");
  expectNothingStored();
});

it("single mode: no token, no header, a 401 is not retried", async () => {
  fetchMock.mockResolvedValueOnce(json(401, {}));
  const response = await authFetch(new Request("http://localhost/api/projects"));
  expect(response.status).toBe(401);
  expect(bearerOf(fetchMock.mock.calls[0]![0])).toBeNull();
  expect(fetchMock).toHaveBeenCalledTimes(1);
});

it("page load: a refused refresh means signed out; sign-out ends the server's session", async () => {
  fetchMock.mockResolvedValueOnce(json(401, {}));
  expect(await refreshSession()).toBe(false);
  expect(authStatus()).toBe("signed_out");

  acceptToken({ access_token: "t", expires_in: 900 });
  fetchMock.mockResolvedValueOnce(new Response(null, { status: 204 }));
  await signOut();
  expect(fetchMock).toHaveBeenLastCalledWith("/api/auth/logout", expect.objectContaining({ method: "POST", credentials: "same-origin" }));
  expect(accessTokenNow()).toBeNull();
  expect(authStatus()).toBe("signed_out");
  expectNothingStored();
});
