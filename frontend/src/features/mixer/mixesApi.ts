// The named mixes of a project (GET/POST/PATCH/DELETE /api/projects/{id}/mixes and .../open).
// Through the generated client (authFetch: the bearer header, one refresh on a 401); a refusal
// becomes the same ApiError as every other call's.
import type { components } from "../../client/schema";
import { client } from "../../lib/api";
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

type ServerSettings = components["schemas"]["MixSettings"];

async function unwrap<T>(call: Promise<{ data?: unknown; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw apiErrorFrom(response.status, error);
  return data as T;
}

// The server keeps the fields it does not know, so the mixer's saved state goes as it is.
const asServer = (settings: SavedSettings) => settings as unknown as ServerSettings;
const mixPath = (projectId: string, mixId: string) => ({ params: { path: { project_id: projectId, mix_id: mixId } } });

export const mixesApi = {
  list: async (projectId: string): Promise<NamedMix[]> => {
    const list = await unwrap<unknown>(client.GET("/api/projects/{project_id}/mixes", { params: { path: { project_id: projectId } } }));
    return Array.isArray(list) ? (list as NamedMix[]) : [];
  },
  create: (projectId: string, name: string, settings: SavedSettings): Promise<NamedMix> =>
    unwrap(client.POST("/api/projects/{project_id}/mixes", { params: { path: { project_id: projectId } }, body: { name, settings: asServer(settings) } })),
  update: (projectId: string, mixId: string, patch: { name?: string; settings?: SavedSettings }): Promise<NamedMix> =>
    unwrap(
      client.PATCH("/api/projects/{project_id}/mixes/{mix_id}", {
        ...mixPath(projectId, mixId),
        body: { name: patch.name, settings: patch.settings === undefined ? undefined : asServer(patch.settings) },
      }),
    ),
  remove: async (projectId: string, mixId: string): Promise<void> => {
    await unwrap<null>(client.DELETE("/api/projects/{project_id}/mixes/{mix_id}", mixPath(projectId, mixId)));
  },
  open: (projectId: string, mixId: string): Promise<NamedMix> => unwrap(client.POST("/api/projects/{project_id}/mixes/{mix_id}/open", mixPath(projectId, mixId))),
};

/** The mix opened last (the one the mixer opens by default), or null. */
export function lastOpened(mixes: readonly NamedMix[]): NamedMix | null {
  let best: NamedMix | null = null;
  for (const m of mixes) if (m.opened_at && (!best || Date.parse(m.opened_at) > Date.parse(best.opened_at!))) best = m;
  return best;
}
