// Accounts mode: the access token lives in this module's memory only (never localStorage,
// sessionStorage or a cookie readable by scripts). The refresh token is the server's HttpOnly
// cookie (path /api/auth): a page load, a 401 and a timer before the token expires each trade
// it for a new access token. In single mode (no accounts) none of this does anything.
import { ApiError, apiErrorFrom } from "./errors";

export type AuthStatus = "loading" | "single" | "signed_in" | "signed_out";

export interface AccessTokenBody {
  access_token: string;
  token_type?: string;
  expires_in: number;
}

/** Refresh this long before the token expires (and never sooner than MIN_DELAY_MS from now). */
export const REFRESH_EARLY_MS = 60_000;
const MIN_DELAY_MS = 5_000;

let accessToken: string | null = null;
let status: AuthStatus = "loading";
let timer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;
const listeners = new Set<() => void>();

function emit(): void {
  for (const listener of listeners) listener();
}

export function subscribeAuth(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function authStatus(): AuthStatus {
  return status;
}

/** The current access token, or null (single mode, or signed out). */
export function accessTokenNow(): string | null {
  return accessToken;
}

export function setAuthStatus(next: AuthStatus): void {
  if (status === next) return;
  status = next;
  emit();
}

/** Keeps a token from sign-in, sign-up or refresh, and schedules the next refresh. */
export function acceptToken(body: AccessTokenBody): void {
  accessToken = body.access_token;
  clearTimeout(timer);
  const delay = Math.max(MIN_DELAY_MS, body.expires_in * 1000 - REFRESH_EARLY_MS);
  timer = setTimeout(() => void refreshSession(), delay);
  setAuthStatus("signed_in");
}

/** Forgets the token (the server's cookie is ended by signOut). */
export function dropSession(): void {
  accessToken = null;
  clearTimeout(timer);
  timer = undefined;
  setAuthStatus("signed_out");
}

/**
 * Trades the refresh cookie for a new access token. One at a time: the server treats a refresh
 * token used twice as stolen and ends the sign-in, so concurrent callers share one request
 * (and, where the browser has Web Locks, other tabs of this site wait for it too).
 * Resolves true when signed in; on refusal the session is dropped.
 */
export function refreshSession(): Promise<boolean> {
  if (!refreshing) {
    refreshing = withLock(doRefresh).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function withLock<T>(work: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== "undefined" ? (navigator as Navigator & { locks?: LockManager }).locks : undefined;
  if (locks?.request) return locks.request("isomix-refresh", work) as Promise<T>;
  return work();
}

async function doRefresh(): Promise<boolean> {
  let response: Response;
  try {
    // Same-origin, so the browser sends Origin and the cookie (path /api/auth).
    response = await globalThis.fetch("/api/auth/refresh", { method: "POST", credentials: "same-origin" });
  } catch {
    // Offline: keep what we have; the next 401 or timer tries again.
    if (accessToken) {
      clearTimeout(timer);
      timer = setTimeout(() => void refreshSession(), 30_000);
      return true;
    }
    dropSession();
    return false;
  }
  if (!response.ok) {
    dropSession();
    return false;
  }
  acceptToken((await response.json()) as AccessTokenBody);
  return true;
}

/** Sign in or sign up: POST the credentials, keep the token. Throws an ApiError when refused. */
export async function signIn(kind: "login" | "signup", email: string, password: string): Promise<void> {
  let response: Response;
  try {
    response = await globalThis.fetch(`/api/auth/${kind}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
  } catch {
    throw new ApiError(0, "network", "");
  }
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // not JSON
  }
  if (!response.ok) throw apiErrorFrom(response.status, body);
  acceptToken(body as AccessTokenBody);
}

/** Ends the sign-in on the server (its refresh cookie) and here. */
export async function signOut(): Promise<void> {
  try {
    await globalThis.fetch("/api/auth/logout", { method: "POST", credentials: "same-origin" });
  } catch {
    // the token is dropped anyway
  }
  dropSession();
}

function isAuthRoute(url: string): boolean {
  return new URL(url, "http://x").pathname.startsWith("/api/auth/");
}

/** The request with the bearer header when there is a token. */
export function withAuth(request: Request): Request {
  if (!accessToken || request.headers.has("Authorization")) return request;
  const headers = new Headers(request.headers);
  headers.set("Authorization", `Bearer ${accessToken}`);
  return new Request(request, { headers });
}

/**
 * fetch for the API client: adds the bearer header; on a 401 (accounts mode) refreshes once
 * and retries; when the refresh is refused too, the session is dropped (the app shows sign-in).
 */
export async function authFetch(input: Request): Promise<Response> {
  const retry = status === "signed_in" && !isAuthRoute(input.url) ? input.clone() : null;
  const sentWith = accessToken;
  const response = await globalThis.fetch(withAuth(input));
  if (response.status !== 401 || !retry) return response;
  // Another call may have refreshed already while this one was in flight.
  const ok = accessToken && accessToken !== sentWith ? true : await refreshSession();
  if (!ok) return response;
  return globalThis.fetch(withAuth(retry));
}

/** The header for calls outside the client (XMLHttpRequest uploads). */
export function authHeader(): Record<string, string> {
  return accessToken ? { Authorization: `Bearer ${accessToken}` } : {};
}

/** For tests: back to the first state. */
export function resetAuthForTests(): void {
  accessToken = null;
  clearTimeout(timer);
  timer = undefined;
  refreshing = null;
  status = "loading";
  listeners.clear();
}
