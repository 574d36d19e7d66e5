import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { cacheRoot, REPO_ROOT } from "../regtest/paths.js";
import { type Log, onceUntilFailure, systemPrograms, ToolUnavailableError, toolsLog } from "./system.js";

/** What puppeteer-core needs to start a headless Chromium. */
export interface HeadlessBrowser {
  readonly executablePath: string;
  readonly args: readonly string[];
  readonly source: "system" | "npm";
}

const LAX_SECURITY_ARGS = new Set(["--disable-web-security", "--allow-running-insecure-content"]);

const SYSTEM_NAMES = ["chromium", "chromium-browser", "google-chrome"] as const;

// As root (CI, containers) Chromium's sandbox cannot start; the pages it opens are the tests' own.
const SYSTEM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"];

/**
 * A headless Chromium: the system's (`chromium`, `chromium-browser` or `google-chrome` on PATH), else the one the
 * `@sparticuz/chromium` npm package ships inside it, unpacked once into the project's cache (no root, no download).
 */
export const ensureBrowser = onceUntilFailure(locate);

async function locate(log: Log = toolsLog): Promise<HeadlessBrowser> {
  for (const name of SYSTEM_NAMES) {
    const found = systemPrograms(name);
    if (found) return { executablePath: found[0], args: SYSTEM_ARGS, source: "system" };
  }
  try {
    const { default: chromium } = await import("@sparticuz/chromium");
    const executablePath = await unpack(() => chromium.executablePath(), log);
    // The package's flags for serverless use also switch off web security; the tests want a browser that keeps it.
    const args = chromium.args.filter((arg) => !LAX_SECURITY_ARGS.has(arg));
    return { executablePath, args, source: "npm" };
  } catch (error) {
    throw new ToolUnavailableError(
      "No headless Chromium: install Debian's chromium, or run npm ci so that @sparticuz/chromium provides one.\n" +
        (error instanceof Error ? error.message : String(error)),
    );
  }
}

/**
 * The package unpacks into $TMPDIR (chromium, fonts, swiftshader) and reuses what is there. It runs with TMPDIR set
 * to a fresh folder, renamed into the cache only once complete, so an interrupted unpack is never taken for a browser.
 */
async function unpack(executablePath: () => Promise<string>, log: Log): Promise<string> {
  const packageJson = join(REPO_ROOT, "node_modules", "@sparticuz", "chromium", "package.json");
  const { version } = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(packageJson, "utf8")));
  const dir = join(cacheRoot(), `chromium-${version}`);
  const binary = join(dir, "chromium");
  if (existsSync(binary)) return binary;
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  log(`unpacking the Chromium shipped in @sparticuz/chromium ${version} into ${dir}`);
  const previousTmp = process.env.TMPDIR;
  process.env.TMPDIR = partial;
  try {
    await executablePath();
  } finally {
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
  }
  renameSync(partial, dir);
  return binary;
}
