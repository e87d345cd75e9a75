import { useCallback, useEffect, useRef, useState } from "react";
import { ErrorNotice } from "../../components/ErrorNotice";
import { api, uploadProject } from "../../lib/api";
import { ApiError, formatBytes } from "../../lib/errors";
import { leaveNotice } from "../../lib/notice";
import { allowsModel } from "../../lib/plans";
import { navigate } from "../../lib/router";
import { useSession } from "../../lib/session";
import { formatDurationLimit, withServerDefault } from "../../lib/status";
import { useDocumentTitle } from "../../lib/title";
import { TERMINAL_STATUSES, type ModelInfo, type PublicConfig } from "../../lib/types";
import { inWords } from "../../lib/words";
import { DropZone } from "./DropZone";
import { ModelSelect } from "./ModelSelect";
import { UploadItem, type UploadJob } from "./UploadItem";

export function UploadPage() {
  const [models, setModels] = useState<ModelInfo[]>([]);
  const [serverConfig, setConfig] = useState<PublicConfig | null>(null);
  const [chosenModel, setModel] = useState("");
  const { me, reloadMe } = useSession();
  const plan = me?.plan ?? null;
  // The plan's own choice when the server's default is not in it.
  // The plan's limits where they are lower than the server's (the server checks again).
  const config: PublicConfig | null =
    serverConfig && plan
      ? {
          ...serverConfig,
          max_upload_bytes: Math.min(serverConfig.max_upload_bytes, plan.max_upload_mb * 1_000_000),
          max_duration_seconds: Math.min(serverConfig.max_duration_seconds, plan.max_duration_minutes * 60),
        }
      : serverConfig;
  const model = allowsModel(plan, chosenModel) ? chosenModel : (models.find((m) => m.installed && allowsModel(plan, m.name))?.name ?? chosenModel);
  const [karaoke, setKaraoke] = useState(false);
  const [jobs, setJobs] = useState<UploadJob[]>([]);
  const [loadError, setLoadError] = useState<unknown>(null);
  const counter = useRef(0);
  useDocumentTitle("Upload");

  useEffect(() => {
    let alive = true;
    Promise.all([api.models(), api.config()])
      .then(([ms, cfg]) => {
        if (!alive) return;
        const all = withServerDefault(ms, cfg.default_model);
        setModels(all);
        setConfig(cfg);
        const preferred = all.find((m) => m.name === cfg.default_model && m.installed) ?? all.find((m) => m.default && m.installed) ?? all.find((m) => m.installed);
        setModel(preferred?.name ?? cfg.default_model);
      })
      .catch((e: unknown) => alive && setLoadError(e));
    return () => {
      alive = false;
    };
  }, []);

  // An answer that comes after the user left this page must not take them anywhere; and
  // leaving it drops this session's list, so not while another upload is still under way.
  const mounted = useRef(false);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  const jobsNow = useRef<UploadJob[]>([]);
  useEffect(() => {
    jobsNow.current = jobs;
  }, [jobs]);

  const update = useCallback((key: string, patch: Partial<UploadJob>) => {
    setJobs((all) => all.map((j) => (j.key === key ? { ...j, ...patch } : j)));
  }, []);

  // Focus goes to the list's heading (or the page's, once the list is empty), not to nowhere.
  const listHeading = useRef<HTMLHeadingElement>(null);
  const pageHeading = useRef<HTMLHeadingElement>(null);
  const dismiss = (key: string) => {
    const others = jobs.some((j) => j.key !== key);
    setJobs((all) => all.filter((j) => j.key !== key));
    window.setTimeout(() => (others ? listHeading.current : pageHeading.current)?.focus());
  };

  const start = (files: File[]) => {
    const fresh = files.map((file) => ({ key: `u${++counter.current}`, file, sent: 0, total: file.size, project: null, error: null }));
    setJobs((all) => [...fresh, ...all]);
    for (const job of fresh) {
      const tooBig = tooBigError(job.file, config);
      if (tooBig) {
        update(job.key, { error: tooBig });
        continue;
      }
      uploadProject({
        file: job.file,
        model,
        twoStems: karaoke ? "vocals" : null,
        onProgress: (sent, total) => update(job.key, { sent, total }),
      })
        .then((project) => {
          update(job.key, { project, sent: job.file.size });
          reloadMe(); // today's uploads left
          // The same file with the same options is already in the library: the server kept
          // that one. Nothing else under way: open it; otherwise its item says so, with a link
          // to open it (UploadItem).
          if (project.existing && fresh.length === 1 && mounted.current && !jobsNow.current.some((j) => j.key !== job.key && underWay(j))) {
            leaveNotice(project.id, "You already have this song: opened it.");
            navigate({ name: "mixer", projectId: project.id });
          }
        })
        .catch((error: unknown) => {
          update(job.key, { error });
          reloadMe();
        });
    }
  };

  // What this server accepts, in its words: the formats list and the picker's filter come from it.
  const hint = config
    ? `${inWords(config.accepted_formats)}. Up to ${formatBytes(config.max_upload_bytes)} and ${formatDurationLimit(config.max_duration_seconds)}.`
    : "";
  const accept = config?.accepted_extensions.join(",");
  const usage = me?.usage;
  const left =
    usage && usage.uploads_left !== null && plan?.uploads_per_day
      ? `${usage.uploads_left} of ${plan.uploads_per_day} uploads left today on the ${plan.title} plan.`
      : "";

  return (
    <section className="page upload-page" aria-labelledby="upload-title">
      <h1 id="upload-title" ref={pageHeading} tabIndex={-1}>
        Separate a song into stems
      </h1>
      {loadError !== null && <ErrorNotice error={loadError} />}
      <form className="upload-options" onSubmit={(e) => e.preventDefault()}>
        {models.length > 0 && <ModelSelect models={models} value={model} onChange={setModel} />}
        <div className="field checkbox">
          <input id="karaoke" type="checkbox" checked={karaoke} onChange={(e) => setKaraoke(e.target.checked)} />
          <label htmlFor="karaoke">Karaoke: two stems only (vocals and everything else)</label>
        </div>
      </form>
      {left && (
        <p className="muted small" data-testid="uploads-left">
          {left}
        </p>
      )}
      <DropZone onFiles={start} hint={hint} accept={accept} disabled={!model} />
      {jobs.length > 0 && (
        <>
          <h2 ref={listHeading} tabIndex={-1}>
            This session
          </h2>
          <ul className="list" aria-label="Uploads">
            {jobs.map((job) => (
              <UploadItem key={job.key} job={job} onDismiss={() => dismiss(job.key)} onDone={() => update(job.key, { done: true })} />
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** Still uploading, or separating (its item follows the live progress and says when it is over). */
function underWay(job: UploadJob): boolean {
  if (job.done || job.error !== null) return false;
  return job.project === null || !TERMINAL_STATUSES.includes(job.project.status);
}

/** Refuse before sending megabytes the server will refuse anyway (it checks again). */
function tooBigError(file: File, config: PublicConfig | null): ApiError | null {
  if (!config || file.size <= config.max_upload_bytes) return null;
  return new ApiError(413, "too_large", `${file.name} is ${formatBytes(file.size)}; the limit is ${formatBytes(config.max_upload_bytes)}.`);
}
