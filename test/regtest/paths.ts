import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Where Go-built binaries are cached, outside the repository, shared between checkouts. */
export function cacheRoot(): string {
  const override = process.env.L402_CACHE_DIR;
  if (override) return resolve(override);
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg ? resolve(xdg) : join(homedir(), ".cache"), "l402-gateway");
}

/** Connection details of the network started by hand with `npm run regtest:up` (overridable for tests). */
export function manualNetworkFile(): string {
  const override = process.env.L402_REGTEST_NETWORK_FILE;
  return override ? resolve(override) : join(REPO_ROOT, ".regtest", "network.json");
}

/** Parent of every run directory (one per started network), so stale runs can be found and reaped. */
export function runsRoot(): string {
  return join(tmpdir(), "l402-regtest");
}
