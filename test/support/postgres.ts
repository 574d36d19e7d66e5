import { execFile } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { allocatePorts } from "../regtest/ports.js";
import { ensurePostgres } from "../tools/postgres.js";

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

/**
 * A throwaway PostgreSQL cluster for tests: initdb in a temporary folder, listening on 127.0.0.1 on a free port,
 * its unix socket in that folder, trust authentication, no fsync. The binaries: see test/tools/postgres.ts.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = await ensurePostgres();
  const dir = mkdtempSync(join(tmpdir(), "l402-pg-"));
  if (bin.runAs) chownSync(dir, bin.runAs.uid, bin.runAs.gid);
  // As root, PostgreSQL's tools run as the user it accepts; from the cluster's folder, which that user can read.
  const user = bin.runAs ? { uid: bin.runAs.uid, gid: bin.runAs.gid } : {};
  const tool = async (name: string, args: string[]) => {
    await run(join(bin.binDir, name), args, { cwd: dir, ...user });
  };
  const data = join(dir, "data");
  await tool("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
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
  const startServer = () => tool("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "start"]);
  const stopServer = () => tool("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
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
      await tool("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
