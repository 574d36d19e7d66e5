import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { allocatePorts } from "../regtest/ports.js";

const run = promisify(execFile);

export interface TestPostgres {
  /** Connection URL of the cluster's `postgres` database. */
  readonly url: string;
  readonly port: number;
  /** Creates an empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (fast shutdown) without deleting it, so that `start` can bring it back. */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  /** Stops the server and deletes the cluster. */
  stop(): Promise<void>;
}

/** initdb and pg_ctl: $PG_BIN, else the newest /usr/lib/postgresql/<version>/bin (Debian), else PATH. */
function binary(name: string): string {
  if (process.env.PG_BIN) return join(process.env.PG_BIN, name);
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const candidate = join(root, version, "bin", name);
      if (existsSync(candidate)) return candidate;
    }
  }
  return name;
}

const isRoot = () => userInfo().uid === 0;

/** PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user. */
async function asPostgresUser(command: string, args: string[]): Promise<void> {
  if (isRoot()) await run("runuser", ["-u", "postgres", "--", command, ...args]);
  else await run(command, args);
}

/**
 * A throwaway PostgreSQL cluster for tests: initdb in a temporary folder, listening on 127.0.0.1 on a free port,
 * its unix socket in that folder, trust authentication, no fsync.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), "l402-pg-"));
  if (isRoot()) {
    const postgres = await run("id", ["-u", "postgres"]);
    const group = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(postgres.stdout.trim()), Number(group.stdout.trim()));
  }
  const data = join(dir, "data");
  await asPostgresUser(binary("initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
  const [port] = await allocatePorts(1);
  if (port === undefined) throw new Error("no free port for PostgreSQL");
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=300",
  ].join(" ");
  const startServer = () =>
    asPostgresUser(binary("pg_ctl"), ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "start"]);
  const stopServer = () => asPostgresUser(binary("pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"]);
  await startServer();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let databases = 0;
  return {
    url,
    port,
    async createDatabase() {
      const name = `l402_test_${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stopServer,
    startServer,
    async stop() {
      await asPostgresUser(binary("pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
