// Starts a real `python -m isomix serve` on a free port with its own data directory.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const FRONTEND_DIR = resolve(here, "..");
export const REPO_DIR = resolve(FRONTEND_DIR, "..");
export const ARTIFACTS_DIR = resolve(FRONTEND_DIR, "test-artifacts");
export const PYTHON = process.env.ISOMIX_PYTHON ?? resolve(FRONTEND_DIR, "../.venv/bin/python");
/** The e2e build of the UI (`scripts/build-frontend.sh --e2e`): the app plus window.__isomix. */
export const UI_DIR = join(FRONTEND_DIR, "dist-e2e");

export interface RunningServer {
  url: string;
  dataDir: string;
  /** The last `lines` lines of the server's log (stdout and stderr), for a failing test's output. */
  logTail: (lines?: number) => string;
  stop: () => Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`isomix serve exited with code ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`isomix serve did not answer ${url}/healthz within ${timeoutMs} ms`);
}

export async function startServer(name: string, env: Record<string, string> = {}): Promise<RunningServer> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `isomix-e2e-${name}-`));
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const logPath = join(ARTIFACTS_DIR, `server-${name}.log`);
  const log = createWriteStream(logPath);
  const child = spawn(PYTHON, ["-m", "isomix", "serve", "--host", "127.0.0.1", "--port", String(port)], {
    cwd: REPO_DIR,
    env: {
      ...process.env,
      ISOMIX_DATA_DIR: dataDir,
      ISOMIX_DEFAULT_MODEL: "demucs_unittest",
      ISOMIX_UI_DIR: UI_DIR,
      ...env,
    },
    detached: true, // its own process group, so stop() also ends the worker it starts
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      const exited = new Promise((r) => child.once("exit", r));
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // already gone
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    log.end();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForHealth(url, child, 90_000);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}; see ${logPath}`, { cause: error });
  }
  const logTail = (lines = 60) => {
    try {
      return readFileSync(logPath, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return `(no log at ${logPath})`;
    }
  };
  return { url, dataDir, stop, logTail };
}
