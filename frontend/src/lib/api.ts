// Typed calls to the IsoMix API: openapi-fetch over the generated schema, plus the two things
// fetch can't do well: upload progress (XMLHttpRequest) and server-sent events (EventSource).
// Links (event streams, peaks, stems, ZIPs, export downloads) are never built here: the server
// hands them out in its bodies (events_url, peaks_url, stems_zip_url, stem url/preview_url,
// download_url), and only the server may make them (it may sign them, say).
import createClient from "openapi-fetch";
import type { paths } from "../client/schema";
import { authFetch, authHeader, authStatus, refreshSession } from "./auth";
import { ApiError, apiErrorFrom } from "./errors";
import type { AdminUser, AdminUserCreate, ExportJob, ExportRequest, Me, ModelInfo, Peaks, PlanChange, PlanTable, Project, ProjectList, PublicConfig, TokenCreated, TokenInfo } from "./types";

// Every call goes through authFetch: the bearer header in accounts mode, one refresh and retry on a 401.
export const client = createClient<paths>({ baseUrl: "", fetch: authFetch });

// When each body came: its signed links expire (~15 min in accounts mode), so a download from
// an old body asks for the body again first (DownloadLink).
const received = new WeakMap<object, number>();

/** When this body (project, export) came from the server; undefined if not from it. */
export function receivedAt(body: object): number | undefined {
  return received.get(body);
}

function stamp<T>(body: T): T {
  if (body && typeof body === "object") received.set(body, Date.now());
  return body;
}

async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw apiErrorFrom(response.status, error);
  return stamp(data as T);
}

const pid = (projectId: string) => ({ params: { path: { project_id: projectId } } });

export const api = {
  config: (): Promise<PublicConfig> => unwrap(client.GET("/api/config")),
  models: (): Promise<ModelInfo[]> => unwrap(client.GET("/api/models")),
  listProjects: (limit = 50, offset = 0): Promise<ProjectList> =>
    unwrap(client.GET("/api/projects", { params: { query: { limit, offset } } })),
  project: (id: string): Promise<Project> => unwrap(client.GET("/api/projects/{project_id}", pid(id))),
  cancel: (id: string): Promise<Project> => unwrap(client.POST("/api/projects/{project_id}/cancel", pid(id))),
  retry: (id: string): Promise<Project> => unwrap(client.POST("/api/projects/{project_id}/retry", pid(id))),
  remove: async (id: string): Promise<void> => {
    await unwrap(client.DELETE("/api/projects/{project_id}", pid(id)));
  },
  /** The waveform peaks at a project's `peaks_url`. */
  peaks: (peaksUrl: string): Promise<Peaks> => getJson<Peaks>(peaksUrl),
  createExport: (id: string, body: ExportRequest): Promise<ExportJob> =>
    unwrap(client.POST("/api/projects/{project_id}/exports", { ...pid(id), body })),
  exportJob: (exportId: string): Promise<ExportJob> =>
    unwrap(client.GET("/api/exports/{export_id}", { params: { path: { export_id: exportId } } })),
  me: (): Promise<Me> => unwrap(client.GET("/api/me")),
  plans: (): Promise<PlanTable> => unwrap(client.GET("/api/plans")),
  changePassword: async (currentPassword: string, newPassword: string): Promise<void> => {
    await unwrap(client.POST("/api/me/password", { body: { current_password: currentPassword, new_password: newPassword } }));
  },
  tokens: (): Promise<TokenInfo[]> => unwrap(client.GET("/api/tokens")),
  createToken: (name: string): Promise<TokenCreated> => unwrap(client.POST("/api/tokens", { body: { name } })),
  revokeToken: async (id: string): Promise<void> => {
    await unwrap(client.DELETE("/api/tokens/{token_id}", { params: { path: { token_id: id } } }));
  },
  adminUsers: (): Promise<AdminUser[]> => unwrap(client.GET("/api/admin/users")),
  adminCreateUser: (body: AdminUserCreate): Promise<AdminUser> => unwrap(client.POST("/api/admin/users", { body })),
  adminSetPlan: (userId: string, body: PlanChange): Promise<AdminUser> =>
    unwrap(client.POST("/api/admin/users/{user_id}/plan", { params: { path: { user_id: userId } }, body })),
  adminDisable: (userId: string): Promise<AdminUser> =>
    unwrap(client.POST("/api/admin/users/{user_id}/disable", { params: { path: { user_id: userId } } })),
  checkout: (interval: "month" | "year"): Promise<{ url: string }> => unwrap(client.POST("/api/billing/checkout", { body: { interval } })),
};

/** GET a link the server handed out, as JSON; a refusal becomes an ApiError like the typed calls'. */
async function getJson<T>(url: string): Promise<T> {
  // Links in bodies work without a header (signed in accounts mode), like audio elements'.
  const response = await fetch(url);
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's error page, say)
  }
  if (!response.ok) throw apiErrorFrom(response.status, body);
  return body as T;
}

export interface UploadOptions {
  file: File;
  model?: string;
  twoStems?: string | null;
  onProgress?: (sentBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
}

/**
 * POST /api/projects with byte-level progress (fetch has no upload progress). In accounts mode
 * with the bearer header; a 401 (the token expired) refreshes once and sends the file again.
 */
export async function uploadProject(options: UploadOptions): Promise<Project> {
  try {
    return await sendUpload(options);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401 || authStatus() !== "signed_in") throw error;
    if (!(await refreshSession())) throw error;
    return sendUpload(options);
  }
}

function sendUpload({ file, model, twoStems, onProgress, signal }: UploadOptions): Promise<Project> {
  const form = new FormData();
  // Options first: the server checks them before it stores a byte of the file, so a
  // refused model or stem is answered at once instead of after the whole upload.
  if (model) form.append("model", model);
  if (twoStems) form.append("two_stems", twoStems);
  form.append("file", file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/projects");
    for (const [name, value] of Object.entries(authHeader())) xhr.setRequestHeader(name, value);
    xhr.responseType = "text";
    xhr.upload.onprogress = (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      let body: unknown = xhr.responseText;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON (a proxy's error page, say): keep the text
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(stamp(body as Project));
      else reject(apiErrorFrom(xhr.status, body));
    };
    // The server may refuse a too-big upload and close the connection before reading it all.
    xhr.onerror = () => reject(new ApiError(0, "network", "The upload was interrupted (the server may have refused it)."));
    xhr.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  });
}

/** Follows a project over SSE at its `events_url`; returns the function that stops following. */
export function followProject(eventsUrl: string, onUpdate: (p: Project) => void, onError?: (e: Event) => void): () => void {
  const source = new EventSource(eventsUrl);
  source.addEventListener("project", (event) => {
    const project = stamp(JSON.parse((event as MessageEvent<string>).data) as Project);
    onUpdate(project);
    if (["ready", "failed", "cancelled", "expired"].includes(project.status)) source.close();
  });
  source.onerror = (e) => {
    // EventSource reconnects by itself unless the server closed for good.
    if (source.readyState === EventSource.CLOSED) onError?.(e);
  };
  return () => source.close();
}
