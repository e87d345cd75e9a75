import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PYTHON, REPO_DIR, UI_DIR, startServer } from "./server";


// Builds the e2e UI (quick when unchanged), starts one server for the suite, tears it down after.
export default async function globalSetup(): Promise<() => Promise<void>> {
  if (process.env.ISOMIX_E2E_URL) {
    // A server someone already runs (for developing the tests): use it, leave it running.
    console.log(`e2e: using the running server at ${process.env.ISOMIX_E2E_URL}`);
    return async () => {};
  }
  if (!existsSync(PYTHON)) throw new Error(`No Python at ${PYTHON}; set ISOMIX_PYTHON`);
  execFileSync(join(REPO_DIR, "scripts/build-frontend.sh"), ["--e2e"], { stdio: "inherit" });
  if (!existsSync(join(UI_DIR, "index.html"))) throw new Error(`${UI_DIR} was not built`);
  const server = await startServer("main");
  process.env.ISOMIX_E2E_URL = server.url;
  console.log(`e2e: isomix serve at ${server.url} (data ${server.dataDir})`);
  return server.stop;
}
