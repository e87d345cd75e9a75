// The named mixes of a project (GET/POST/PATCH/DELETE /api/projects/{id}/mixes and .../open).
// Typed here until the generated client has these routes; calls go through authFetch like the
// generated client's, and a refusal becomes the same ApiError.
import { authFetch } from "../../lib/auth";
import { apiErrorFrom } from "../../lib/errors";
import type { SavedSettings } from "./mixState";

export interface NamedMix {
  id: string;
  name: string;
  settings: SavedSettings;
  created_at: string;
  updated_at: string;
  opened_at: string | null;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  const response = await authFetch(new Request(path, init));
  let data: unknown = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      // not JSON (a proxy's error page, say)
    }
  }
  if (!response.ok) throw apiErrorFrom(response.status, data);
  return data as T;
}

const base = (projectId: string) => `/api/projects/${encodeURIComponent(projectId)}/mixes`;
const one = (projectId: string, mixId: string) => `${base(projectId)}/${encodeURIComponent(mixId)}`;

export const mixesApi = {
  list: async (projectId: string): Promise<NamedMix[]> => {
    const list = await call<unknown>("GET", base(projectId));
    return Array.isArray(list) ? (list as NamedMix[]) : [];
  },
  create: (projectId: string, name: string, settings: SavedSettings): Promise<NamedMix> => call("POST", base(projectId), { name, settings }),
  update: (projectId: string, mixId: string, patch: { name?: string; settings?: SavedSettings }): Promise<NamedMix> =>
    call("PATCH", one(projectId, mixId), patch),
  remove: async (projectId: string, mixId: string): Promise<void> => {
    await call<null>("DELETE", one(projectId, mixId));
  },
  open: (projectId: string, mixId: string): Promise<NamedMix> => call("POST", `${one(projectId, mixId)}/open`),
};

/** The mix opened last (the one the mixer opens by default), or null. */
export function lastOpened(mixes: readonly NamedMix[]): NamedMix | null {
  let best: NamedMix | null = null;
  for (const m of mixes) if (m.opened_at && (!best || Date.parse(m.opened_at) > Date.parse(best.opened_at!))) best = m;
  return best;
}
