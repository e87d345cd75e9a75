import { useCallback, useEffect, useState } from "react";
import { ErrorNotice } from "../../components/ErrorNotice";
import { LiveAnnouncement } from "../../components/LiveAnnouncement";
import { ProgressBar } from "../../components/ProgressBar";
import { client } from "../../lib/api";
import { ApiError, apiErrorFrom } from "../../lib/errors";
import type { ModelInfo } from "../../lib/types";
import { CommandLine } from "./CommandLine";
import { installAnnouncement, installPercent, installProgressText } from "./modelText";

type Install = NonNullable<ModelInfo["install"]>;

/** How often a running install is asked for its progress. */
export const INSTALL_POLL_MS = 500;
/** Progress checks that may fail in a row (a network blip) before the install is given up on. */
export const INSTALL_POLL_TRIES = 3;

const path = (name: string) => ({ params: { path: { name } } });

async function startInstall(name: string): Promise<Install> {
  const { data, error, response } = await client.POST("/api/models/{name}/install", path(name));
  if (!response.ok || !data) throw apiErrorFrom(response.status, error);
  return data;
}

async function readInstall(name: string): Promise<Install> {
  const { data, error, response } = await client.GET("/api/models/{name}/install", path(name));
  if (!response.ok || !data) throw apiErrorFrom(response.status, error);
  return data;
}

interface Props {
  model: ModelInfo;
  /** Called once the model is installed (the picker then re-reads the models). */
  onInstalled: (name: string) => void;
}

/** A model that is not installed: an Install button when the server can fetch it from the
 * model hub, its progress and outcome, and the commands that install it by hand. */
export function ModelInstall({ model, onInstalled }: Props) {
  // An install that finished earlier, while the model is not installed now (removed or damaged
  // since): nothing to follow; Install is offered again.
  const [install, setInstall] = useState<Install | null>(model.install?.state === "installed" ? null : (model.install ?? null));
  const [refused, setRefused] = useState<unknown>(null);
  // Between the click and the server's answer: Install cannot be pressed a second time.
  const [starting, setStarting] = useState(false);
  // Progress checks failed in a row; after INSTALL_POLL_TRIES the install is no longer followed.
  const [misses, setMisses] = useState(0);
  const running = install?.state === "running";

  const follow = useCallback(
    (next: Install) => {
      setInstall(next);
      if (next.state === "installed") onInstalled(next.model);
    },
    [onInstalled],
  );

  useEffect(() => {
    if (!running) return;
    let alive = true;
    const timer = window.setTimeout(() => {
      readInstall(model.name)
        .then((next) => {
          if (!alive) return;
          setMisses(0);
          follow(next);
        })
        .catch((error: unknown) => {
          if (!alive) return;
          if (misses + 1 < INSTALL_POLL_TRIES) {
            setMisses(misses + 1); // ask again on the next tick
            return;
          }
          // The server forgot it (restarted) or cannot be reached: say so, offer Install again.
          setMisses(0);
          setInstall(null);
          setRefused(error);
        });
    }, INSTALL_POLL_MS);
    return () => {
      alive = false;
      window.clearTimeout(timer);
    };
  }, [running, install, misses, model.name, follow]);

  const start = () => {
    if (starting) return;
    setRefused(null);
    setStarting(true);
    startInstall(model.name)
      // Already being installed (another tab, or a click this page did not see answered): follow it.
      .catch((error: unknown) => {
        if (error instanceof ApiError && error.code === "install_running") return readInstall(model.name);
        throw error;
      })
      .then(follow)
      .catch((error: unknown) => setRefused(error))
      .finally(() => setStarting(false));
  };

  // After a failure its commands come right under it; the hint lists the others.
  const failed = install?.state === "failed" ? (install.commands ?? []) : [];
  const others = (model.install_commands ?? []).filter((c) => !failed.includes(c));
  return (
    <div className="model-install">
      {model.installable && !running && install?.state !== "installed" && (
        <button type="button" className="primary" onClick={start} disabled={starting} aria-busy={starting || undefined}>
          {install?.state === "failed" ? `Try installing ${model.name} again` : `Install ${model.name}`}
        </button>
      )}
      {install && install.state !== "failed" && (
        <div className="small">
          <ProgressBar value={installPercent(install)} label={`Installing ${model.name}`} valueText={installProgressText(install)} />
          <span>{installProgressText(install)}</span>
          <LiveAnnouncement text={`${model.name}: ${installAnnouncement(install)}`} />
        </div>
      )}
      {install?.state === "failed" && (
        <p className="notice notice-error" role="alert">
          {install.error}
        </p>
      )}
      {failed.map((command) => (
        <CommandLine key={command} command={command} />
      ))}
      {refused !== null && <ErrorNotice error={refused} />}
      <p className="small">{model.install_hint}</p>
      {others.map((command) => (
        <CommandLine key={command} command={command} />
      ))}
    </div>
  );
}
