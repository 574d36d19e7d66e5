import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type AuthenticatedLnd, authenticatedLndGrpc, getWalletInfo } from "lightning";
import { type BtcdNode, withLogTail } from "./btcd.js";
import { assertPortFree, LOOPBACK } from "./ports.js";
import { ManagedProcess } from "./processes.js";
import type { RunDirectory } from "./runs.js";
import { waitFor } from "./wait.js";

export class MissingCredentialError extends Error {
  override readonly name = "MissingCredentialError";
}

export interface LndCredentials {
  /** Base64 of tls.cert, as the `lightning` package expects. */
  readonly cert: string;
  readonly adminMacaroon: string;
  readonly invoiceMacaroon: string;
}

export function credentialPaths(lnddir: string): { cert: string; adminMacaroon: string; invoiceMacaroon: string } {
  const macaroons = join(lnddir, "data", "chain", "bitcoin", "regtest");
  return {
    cert: join(lnddir, "tls.cert"),
    adminMacaroon: join(macaroons, "admin.macaroon"),
    invoiceMacaroon: join(macaroons, "invoice.macaroon"),
  };
}

/** Reads a node's TLS cert and macaroons; a missing file is named in a MissingCredentialError. */
export function loadCredentials(lnddir: string, label = "lnd"): LndCredentials {
  const paths = credentialPaths(lnddir);
  const read = (what: string, path: string): string => {
    if (!existsSync(path)) {
      throw new MissingCredentialError(
        `${label}: ${what} not found at ${path} (lnd writes it once its wallet is unlocked; is this node running?)`,
      );
    }
    return readFileSync(path).toString("base64");
  };
  return {
    cert: read("TLS certificate", paths.cert),
    adminMacaroon: read("admin macaroon", paths.adminMacaroon),
    invoiceMacaroon: read("invoice macaroon", paths.invoiceMacaroon),
  };
}

export interface LndOptions {
  readonly alias: string;
  readonly lndPath: string;
  readonly run: RunDirectory;
  readonly btcd: BtcdNode;
  readonly grpcPort: number;
  readonly restPort: number;
  readonly p2pPort: number;
  readonly readyTimeoutMs: number;
}

/** One LND node on regtest with a btcd backend, every listener on loopback. */
export class LndNode {
  readonly dir: string;
  private process: ManagedProcess | undefined;
  private client: AuthenticatedLnd | undefined;

  private constructor(private readonly options: LndOptions) {
    this.dir = join(options.run.dir, options.alias);
  }

  static async start(options: LndOptions): Promise<LndNode> {
    const node = new LndNode(options);
    await mkdir(node.dir, { recursive: true });
    // An empty config file keeps lnd away from the user's ~/.lnd/lnd.conf.
    writeFileSync(join(node.dir, "lnd.conf"), "");
    await node.launch();
    return node;
  }

  get alias(): string {
    return this.options.alias;
  }

  get socket(): string {
    return `${LOOPBACK}:${this.options.grpcPort}`;
  }

  get restUrl(): string {
    return `https://${LOOPBACK}:${this.options.restPort}`;
  }

  get p2pHost(): string {
    return `${LOOPBACK}:${this.options.p2pPort}`;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** gRPC client with the admin macaroon. */
  get lnd(): AuthenticatedLnd {
    if (!this.client) throw new Error(`${this.alias} is not running`);
    return this.client;
  }

  credentials(): LndCredentials {
    return loadCredentials(this.dir, this.alias);
  }

  lncliArgs(): string[] {
    const paths = credentialPaths(this.dir);
    return [
      `--lnddir=${this.dir}`,
      "--network=regtest",
      `--rpcserver=${this.socket}`,
      `--tlscertpath=${paths.cert}`,
      `--macaroonpath=${paths.adminMacaroon}`,
    ];
  }

  /** Waits until the node has processed every block btcd has. */
  async waitSynced(timeoutMs = this.options.readyTimeoutMs): Promise<void> {
    const height = await this.options.btcd.blockCount();
    await waitFor(
      `${this.alias} synced to height ${height}`,
      async () => {
        const info = await getWalletInfo({ lnd: this.lnd });
        return info.is_synced_to_chain && info.current_block_height >= height ? true : undefined;
      },
      { timeoutMs, abortIf: () => this.process?.exitError() },
    );
  }

  async stop(): Promise<void> {
    await this.process?.stop();
    this.client = undefined;
  }

  private async launch(): Promise<void> {
    const { alias, grpcPort, restPort, p2pPort, btcd } = this.options;
    await assertPortFree(grpcPort, `${alias} gRPC`);
    await assertPortFree(restPort, `${alias} REST`);
    await assertPortFree(p2pPort, `${alias} P2P`);
    const args = [
      `--lnddir=${this.dir}`,
      `--configfile=${join(this.dir, "lnd.conf")}`,
      `--alias=${alias}`,
      "--noseedbackup",
      "--bitcoin.regtest",
      "--bitcoin.node=btcd",
      `--btcd.rpchost=${btcd.rpcHost}`,
      `--btcd.rpcuser=${btcd.rpcUser}`,
      `--btcd.rpcpass=${btcd.rpcPass}`,
      `--btcd.rpccert=${btcd.certPath}`,
      `--rpclisten=${this.socket}`,
      `--restlisten=${LOOPBACK}:${restPort}`,
      `--listen=${this.p2pHost}`,
      "--debuglevel=info",
      // Regtest speed-ups: gossip and payment retries without the production delays.
      "--trickledelay=50",
      "--accept-keysend",
    ];
    const proc = new ManagedProcess({
      label: `${alias} (lnd)`,
      program: this.options.lndPath,
      args,
      logFile: join(this.dir, "lnd.out.log"),
    });
    this.process = proc;
    this.options.run.track(alias, proc.pid, this.options.lndPath, 0);
    try {
      const paths = credentialPaths(this.dir);
      await waitFor(
        `${alias}'s macaroons`,
        async () => (existsSync(paths.adminMacaroon) && existsSync(paths.invoiceMacaroon) ? true : undefined),
        { timeoutMs: this.options.readyTimeoutMs, abortIf: () => proc.exitError() },
      );
      const creds = this.credentials();
      this.client = authenticatedLndGrpc({ cert: creds.cert, macaroon: creds.adminMacaroon, socket: this.socket }).lnd;
      await waitFor(`${alias} gRPC`, () => getWalletInfo({ lnd: this.lnd }), {
        timeoutMs: this.options.readyTimeoutMs,
        abortIf: () => proc.exitError(),
      });
    } catch (error) {
      await proc.stop();
      throw await withLogTail(error, proc);
    }
  }
}
