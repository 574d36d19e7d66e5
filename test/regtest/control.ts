import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { getChannels, getWalletInfo } from "lightning";
import { lndClient, type NodeName, type RegtestNetworkInfo } from "./network-file.js";
import { RunDirectory } from "./runs.js";
import { waitFor } from "./wait.js";

/**
 * Stops and restarts one LND node of a running network, for tests of outages. The restarted process is recorded in
 * the network's run directory, so the network's teardown stops it like the others.
 */
export class NodeControl {
  private argv: string[] | undefined;

  constructor(
    private readonly network: RegtestNetworkInfo,
    readonly node: NodeName,
  ) {}

  private currentPid(): number {
    const record = JSON.parse(readFileSync(join(this.network.runDir, "run.json"), "utf8")) as {
      processes: { label: string; pid: number }[];
    };
    const entries = record.processes.filter((p) => p.label === this.node);
    const pid = entries.at(-1)?.pid;
    if (pid === undefined) throw new Error(`${this.node} is not recorded in ${this.network.runDir}`);
    return pid;
  }

  /** SIGTERM, and wait until the process is gone. */
  async stop(): Promise<void> {
    const pid = this.currentPid();
    this.argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    process.kill(pid, "SIGTERM");
    await waitFor(
      `${this.node} to exit`,
      async () => {
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          return true;
        }
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  }

  /** Starts the node again with the same arguments and waits until it is synced and its channel is active again. */
  async start(): Promise<void> {
    const [program, ...args] = this.argv ?? [];
    if (!program) throw new Error(`${this.node} was not stopped through this control`);
    const log = openSync(join(this.network.nodes[this.node].lnddir, "lnd.out.log"), "a");
    const child = spawn(program, args, { detached: true, stdio: ["ignore", log, log] });
    closeSync(log);
    child.unref();
    RunDirectory.open(this.network.runDir).track(this.node, child.pid ?? -1, program, 0);
    const lnd = lndClient(this.network.nodes[this.node]);
    await waitFor(
      `${this.node} to be back and synced`,
      async () => ((await getWalletInfo({ lnd })).is_synced_to_chain ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await waitFor(
      `${this.node}'s channel to reactivate`,
      async () => ((await getChannels({ lnd, is_active: true })).channels.length > 0 ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  }
}
