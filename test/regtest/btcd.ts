import { readFileSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { runCommand, tail } from "./command.js";
import { assertPortFree, LOOPBACK } from "./ports.js";
import { ManagedProcess } from "./processes.js";
import type { RunDirectory } from "./runs.js";
import { waitFor } from "./wait.js";

export interface BtcdOptions {
  readonly btcdPath: string;
  readonly btcctlPath: string;
  readonly run: RunDirectory;
  readonly rpcPort: number;
  readonly p2pPort: number;
  readonly readyTimeoutMs: number;
}

export class BtcctlError extends Error {
  override readonly name = "BtcctlError";
}

const RPC_USER = "regtest";
const RPC_PASS = "regtest";

/** btcd in regtest mode on loopback, driven with btcctl. */
export class BtcdNode {
  readonly dir: string;
  readonly rpcUser = RPC_USER;
  readonly rpcPass = RPC_PASS;
  private process: ManagedProcess | undefined;

  private constructor(private readonly options: BtcdOptions) {
    this.dir = join(options.run.dir, "btcd");
  }

  static async start(options: BtcdOptions): Promise<BtcdNode> {
    const node = new BtcdNode(options);
    await mkdir(node.dir, { recursive: true });
    // Empty config files keep btcd and btcctl away from the user's ~/.btcd and ~/.btcctl.
    writeFileSync(join(node.dir, "btcd.conf"), "");
    writeFileSync(join(node.dir, "btcctl.conf"), "");
    await node.launch();
    return node;
  }

  get rpcHost(): string {
    return `${LOOPBACK}:${this.options.rpcPort}`;
  }

  get p2pHost(): string {
    return `${LOOPBACK}:${this.options.p2pPort}`;
  }

  get certPath(): string {
    return join(this.dir, "rpc.cert");
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  certBase64(): string {
    return readFileSync(this.certPath).toString("base64");
  }

  /** Arguments that point btcctl at this node; also written to network.json for use by hand. */
  btcctlArgs(): string[] {
    return [
      `--configfile=${join(this.dir, "btcctl.conf")}`,
      "--regtest",
      `--rpcserver=${this.rpcHost}`,
      `--rpcuser=${RPC_USER}`,
      `--rpcpass=${RPC_PASS}`,
      `--rpccert=${this.certPath}`,
    ];
  }

  async btcctl(...args: string[]): Promise<string> {
    const result = await runCommand(this.options.btcctlPath, [...this.btcctlArgs(), ...args], { timeoutMs: 120_000 });
    if (result.code !== 0) {
      throw new BtcctlError(`btcctl ${args.join(" ")} failed: ${tail(result.stderr || result.stdout, 5)}`);
    }
    return result.stdout.trim();
  }

  async blockCount(): Promise<number> {
    return Number(await this.btcctl("getblockcount"));
  }

  /** Mines blocks to the node's mining address; returns the new height. */
  async mine(blocks: number): Promise<number> {
    await this.btcctl("generate", String(blocks));
    return this.blockCount();
  }

  /** Restarts with coinbase rewards paid to `address` (btcd has no generatetoaddress; the mining address is a flag). */
  async restartMiningTo(address: string): Promise<void> {
    await this.stop();
    await this.launch(address);
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }

  private async launch(miningAddress?: string): Promise<void> {
    await assertPortFree(this.options.rpcPort, "btcd RPC");
    await assertPortFree(this.options.p2pPort, "btcd P2P");
    const args = [
      `--configfile=${join(this.dir, "btcd.conf")}`,
      "--regtest",
      `--datadir=${join(this.dir, "data")}`,
      `--logdir=${join(this.dir, "logs")}`,
      `--rpccert=${this.certPath}`,
      `--rpckey=${join(this.dir, "rpc.key")}`,
      `--rpcuser=${RPC_USER}`,
      `--rpcpass=${RPC_PASS}`,
      `--rpclisten=${this.rpcHost}`,
      `--listen=${this.p2pHost}`,
      "--txindex",
      "--debuglevel=info",
      ...(miningAddress ? [`--miningaddr=${miningAddress}`] : []),
    ];
    const proc = new ManagedProcess({
      label: "btcd",
      program: this.options.btcdPath,
      args,
      logFile: join(this.dir, "btcd.out.log"),
    });
    this.process = proc;
    this.options.run.track("btcd", proc.pid, this.options.btcdPath, 1);
    try {
      await waitFor("btcd RPC", () => this.blockCount(), {
        timeoutMs: this.options.readyTimeoutMs,
        abortIf: () => proc.exitError(),
      });
    } catch (error) {
      await proc.stop();
      throw await withLogTail(error, proc);
    }
  }
}

/** Adds the tail of a process log to a readiness error, unless the error already carries it. */
export async function withLogTail(error: unknown, proc: ManagedProcess): Promise<Error> {
  const base = error instanceof Error ? error : new Error(String(error));
  if (base.message.includes(proc.logFile)) return base;
  base.message += `\nLast lines of ${proc.logFile}:\n${await proc.logTail()}`;
  return base;
}
