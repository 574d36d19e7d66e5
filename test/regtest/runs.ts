import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { basename, join } from "node:path";
import { z } from "zod";
import { runsRoot } from "./paths.js";
import { isAlive, pidsWithCommandLine } from "./proc-scan.js";

/**
 * Every started network has a run directory with a `run.json` naming its owner and its children's pids.
 * When an owner dies without cleaning up (SIGKILL, a crashed test runner), the next start reaps its children.
 */
const runRecordSchema = z.object({
  ownerPid: z.number().int(),
  /** A network started by `regtest:up` outlives its owner on purpose; only `regtest:down` stops it. */
  detached: z.boolean(),
  createdAt: z.string(),
  processes: z.array(
    z.object({
      label: z.string(),
      pid: z.number().int(),
      program: z.string(),
      /** Lower tiers stop first: lnd nodes (0) before the btcd (1) they depend on. */
      stopTier: z.number().int(),
    }),
  ),
});
export type RunRecord = z.infer<typeof runRecordSchema>;

const RECORD_FILE = "run.json";

export class RunDirectory {
  private constructor(
    readonly dir: string,
    private readonly record: RunRecord,
  ) {}

  static async create(detached: boolean): Promise<RunDirectory> {
    mkdirSync(runsRoot(), { recursive: true });
    const dir = await mkdtemp(join(runsRoot(), "run-"));
    const run = new RunDirectory(dir, {
      ownerPid: process.pid,
      detached,
      createdAt: new Date().toISOString(),
      processes: [],
    });
    run.save();
    return run;
  }

  /** Reopens the run directory of a running network, to track processes restarted by tests. */
  static open(dir: string): RunDirectory {
    const record = readRecord(dir);
    if (!record) throw new Error(`no run record in ${dir}`);
    return new RunDirectory(dir, record);
  }

  track(label: string, pid: number, program: string, stopTier: number): void {
    this.record.processes.push({ label, pid, program: basename(program), stopTier });
    this.save();
  }

  private save(): void {
    writeFileSync(join(this.dir, RECORD_FILE), JSON.stringify(this.record, null, 2));
  }
}

function readRecord(dir: string): RunRecord | undefined {
  try {
    return runRecordSchema.parse(JSON.parse(readFileSync(join(dir, RECORD_FILE), "utf8")));
  } catch {
    return undefined;
  }
}

/** True if `pid` is alive and still runs `program` (guards against a recycled pid). */
function runsProgram(pid: number, program: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
    return basename(argv0) === program;
  } catch {
    return process.platform !== "linux";
  }
}

async function waitGone(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 100));
    alive = alive.filter(isAlive);
  }
  return alive;
}

async function stopTier(targets: RunRecord["processes"], graceMs: number): Promise<void> {
  for (const target of targets) {
    try {
      process.kill(target.pid, "SIGTERM");
    } catch {
      // Exited meanwhile.
    }
  }
  const stubborn = await waitGone(
    targets.map((t) => t.pid),
    graceMs,
  );
  for (const pid of stubborn) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }
  await waitGone(stubborn, 5_000);
}

/**
 * Stops the processes recorded in a run directory tier by tier (lnd before btcd), SIGKILLs stragglers,
 * and removes the directory. Returns the labels of the processes it stopped.
 */
export async function stopRecordedRun(dir: string, graceMs = 15_000): Promise<string[]> {
  const record = readRecord(dir);
  // Nodes start concurrently, so the record's order varies; report in stop order, then by name.
  const running = (record?.processes ?? [])
    .filter((p) => runsProgram(p.pid, p.program))
    .sort((a, b) => a.stopTier - b.stopTier || a.label.localeCompare(b.label));
  const tiers = [...new Set(running.map((p) => p.stopTier))].sort((a, b) => a - b);
  for (const tier of tiers) {
    await stopTier(
      running.filter((p) => p.stopTier === tier),
      graceMs,
    );
  }
  // A daemon spawned just before its owner died may be missing from the record (it is written once the spawn
  // returns). Every daemon of a run names the run directory on its command line, so none is left behind.
  const strays = pidsWithCommandLine(`${dir}/`);
  for (const pid of strays) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }
  await waitGone(strays, 5_000);
  rmSync(dir, { recursive: true, force: true });
  return running.map((p) => p.label);
}

/** Reaps the networks whose owner died without stopping them. Detached (manual) networks are left alone. */
export async function reapOrphanedRuns(): Promise<string[]> {
  let entries: string[];
  try {
    entries = readdirSync(runsRoot());
  } catch {
    return [];
  }
  const reaped: string[] = [];
  for (const entry of entries) {
    const dir = join(runsRoot(), entry);
    const record = readRecord(dir);
    if (record?.detached || (record && isAlive(record.ownerPid))) continue;
    // No readable record: a start that died before writing one, or an unrelated leftover. Either way stale,
    // but only once it is old enough not to be a start in progress elsewhere.
    if (!record && Date.now() - creationTime(dir) < 60_000) continue;
    reaped.push(...(await stopRecordedRun(dir, 5_000)));
  }
  return reaped;
}

function creationTime(dir: string): number {
  try {
    return statSync(dir).mtimeMs;
  } catch {
    return 0;
  }
}
