import { createHash } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  addPeer,
  createChainAddress,
  createInvoice,
  getChainBalance,
  getChannels,
  getInvoice,
  getWalletInfo,
  openChannel,
  pay,
} from "lightning";
import { type BinaryPaths, ensureBinaries } from "./binaries.js";
import { BtcdNode } from "./btcd.js";
import { LndNode } from "./lnd.js";
import type { RegtestNetworkInfo, RegtestNodeInfo } from "./network-file.js";
import { allocatePorts } from "./ports.js";
import { stopChildrenOnExit } from "./processes.js";
import { RunDirectory, reapOrphanedRuns, stopRecordedRun } from "./runs.js";
import { NotReadyError, waitFor } from "./wait.js";

export const CHANNEL_CAPACITY_SATS = 2_000_000;
/** Coinbase outputs mature after 100 blocks, and btcd's regtest activates segwit by BIP9 vote at block 432. */
const INITIAL_BLOCKS = 500;
const CHANNEL_CONFIRMATIONS = 6;

export interface PortPlan {
  btcdRpc: number;
  btcdP2p: number;
  aliceGrpc: number;
  aliceRest: number;
  aliceP2p: number;
  bobGrpc: number;
  bobRest: number;
  bobP2p: number;
}

export interface StartNetworkOptions {
  /** true for `regtest:up`: the processes outlive this one, and only `regtest:down` stops them. */
  readonly detached?: boolean;
  /** Where to write network.json; by default inside the run directory. */
  readonly networkFile?: string;
  /** Bound for each readiness wait (a process starting, a node syncing, a channel activating). */
  readonly readyTimeoutMs?: number;
  /** Fixed ports instead of free ones chosen by the kernel. */
  readonly ports?: Partial<PortPlan>;
  readonly binaries?: BinaryPaths;
  readonly log?: (line: string) => void;
}

export interface RegtestNetwork {
  readonly info: RegtestNetworkInfo;
  /** The network.json written for this network. */
  readonly file: string;
  readonly btcd: BtcdNode;
  readonly alice: LndNode;
  readonly bob: LndNode;
  /** Stops lnd nodes, then btcd, and removes the run directory. */
  stop(): Promise<void>;
}

async function planPorts(fixed: Partial<PortPlan> = {}): Promise<PortPlan> {
  const names: (keyof PortPlan)[] = [
    "btcdRpc",
    "btcdP2p",
    "aliceGrpc",
    "aliceRest",
    "aliceP2p",
    "bobGrpc",
    "bobRest",
    "bobP2p",
  ];
  const free = await allocatePorts(names.length);
  return Object.fromEntries(names.map((name, i) => [name, fixed[name] ?? free[i]])) as unknown as PortPlan;
}

/**
 * Starts btcd and two LND nodes (alice: the operator, bob: the agent), funds bob, opens a channel bob→alice,
 * and proves it by paying a 1-sat invoice. Everything started is stopped again if any step fails.
 */
export async function startNetwork(options: StartNetworkOptions): Promise<RegtestNetwork> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[regtest] ${line}\n`));
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const binaries = options.binaries ?? (await ensureBinaries(log));
  const reaped = await reapOrphanedRuns();
  if (reaped.length > 0) log(`stopped leftovers of an earlier run: ${reaped.join(", ")}`);
  if (!options.detached) stopChildrenOnExit();

  const started = Date.now();
  const step = (what: string) => log(`${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const run = await RunDirectory.create(options.detached ?? false);
  log(`run directory ${run.dir}`);
  const ports = await planPorts(options.ports);
  const nodes: { btcd?: BtcdNode; alice?: LndNode; bob?: LndNode } = {};
  try {
    nodes.btcd = await BtcdNode.start({
      btcdPath: binaries.btcd,
      btcctlPath: binaries.btcctl,
      run,
      rpcPort: ports.btcdRpc,
      p2pPort: ports.btcdP2p,
      readyTimeoutMs,
    });
    const btcd = nodes.btcd;
    step(`btcd up on ${btcd.rpcHost}`);

    const lndOptions = { lndPath: binaries.lnd, run, btcd, readyTimeoutMs };
    const [alice, bob] = await Promise.allSettled([
      LndNode.start({
        ...lndOptions,
        alias: "alice",
        grpcPort: ports.aliceGrpc,
        restPort: ports.aliceRest,
        p2pPort: ports.aliceP2p,
      }),
      LndNode.start({
        ...lndOptions,
        alias: "bob",
        grpcPort: ports.bobGrpc,
        restPort: ports.bobRest,
        p2pPort: ports.bobP2p,
      }),
    ]);
    if (alice.status === "fulfilled") nodes.alice = alice.value;
    if (bob.status === "fulfilled") nodes.bob = bob.value;
    if (alice.status === "rejected") throw alice.reason;
    if (bob.status === "rejected") throw bob.reason;
    step(`alice and bob (lnd) up on ${nodes.alice?.socket} and ${nodes.bob?.socket}`);

    const info = await fundAndConnect(btcd, alice.value, bob.value, readyTimeoutMs, step);
    const networkInfo: RegtestNetworkInfo = {
      version: 1,
      runDir: run.dir,
      createdAt: new Date().toISOString(),
      btcd: {
        rpcHost: btcd.rpcHost,
        rpcUser: btcd.rpcUser,
        rpcPass: btcd.rpcPass,
        rpcCert: btcd.certBase64(),
        p2pHost: btcd.p2pHost,
        btcctl: binaries.btcctl,
        btcctlArgs: btcd.btcctlArgs(),
        pid: btcd.pid ?? -1,
      },
      nodes: {
        alice: await describeNode(alice.value, binaries.lncli),
        bob: await describeNode(bob.value, binaries.lncli),
      },
      channel: { ...info, capacitySats: CHANNEL_CAPACITY_SATS, opener: "bob" },
    };
    const file = options.networkFile ?? join(run.dir, "network.json");
    writeNetworkFile(file, networkInfo);
    step(`network ready; details in ${file}`);
    return {
      info: networkInfo,
      file,
      btcd,
      alice: alice.value,
      bob: bob.value,
      stop: async () => {
        await Promise.all([alice.value.stop(), bob.value.stop()]);
        await btcd.stop();
        await stopRecordedRun(run.dir);
      },
    };
  } catch (error) {
    await Promise.all([nodes.alice?.stop(), nodes.bob?.stop()]);
    await nodes.btcd?.stop();
    await stopRecordedRun(run.dir);
    throw error;
  }
}

/** How long a node may sit unsynced after a burst of blocks before a fresh block is mined to wake its wallet. */
const NUDGE_AFTER_MS = 15_000;

/**
 * Waits until every node has synced to btcd's height. After a burst of hundreds of blocks, LND's wallet can report
 * itself unsynced until the next block arrives (seen once on a quiet machine: a full minute without progress), so a
 * node that lingers gets one more block and the wait goes on, until `timeoutMs` in all.
 */
async function waitSyncedNudging(btcd: BtcdNode, nodes: readonly LndNode[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    try {
      await Promise.all(nodes.map((node) => node.waitSynced(Math.max(1, Math.min(NUDGE_AFTER_MS, left)))));
      return;
    } catch (error) {
      if (!(error instanceof NotReadyError) || left <= NUDGE_AFTER_MS) throw error;
      await btcd.mine(1);
    }
  }
}

async function fundAndConnect(
  btcd: BtcdNode,
  alice: LndNode,
  bob: LndNode,
  timeoutMs: number,
  step: (what: string) => void,
): Promise<{ fundingTxid: string; fundingOutputIndex: number }> {
  const { address } = await createChainAddress({ lnd: bob.lnd, format: "p2wpkh" });
  await btcd.restartMiningTo(address);
  await btcd.mine(INITIAL_BLOCKS);
  step(`mined ${INITIAL_BLOCKS} blocks to bob`);
  await waitSyncedNudging(btcd, [alice, bob], timeoutMs);
  await waitFor(
    "bob's confirmed on-chain balance",
    async () => ((await getChainBalance({ lnd: bob.lnd })).chain_balance > CHANNEL_CAPACITY_SATS ? true : undefined),
    { timeoutMs },
  );
  step("bob funded and both nodes synced");

  const aliceInfo = await getWalletInfo({ lnd: alice.lnd });
  await addPeer({ lnd: bob.lnd, public_key: aliceInfo.public_key, socket: alice.p2pHost });
  const channel = await openChannel({
    lnd: bob.lnd,
    partner_public_key: aliceInfo.public_key,
    local_tokens: CHANNEL_CAPACITY_SATS,
  });
  // Wait for the funding transaction to reach btcd's mempool before mining it.
  await waitFor(
    "the channel funding transaction in btcd's mempool",
    async () => ((await btcd.btcctl("getrawmempool")).includes(channel.transaction_id) ? true : undefined),
    { timeoutMs },
  );
  await btcd.mine(CHANNEL_CONFIRMATIONS);
  await waitFor(
    "the bob→alice channel to be active on both sides",
    async () => {
      const [a, b] = await Promise.all([
        getChannels({ lnd: alice.lnd, is_active: true }),
        getChannels({ lnd: bob.lnd, is_active: true }),
      ]);
      return a.channels.length > 0 && b.channels.length > 0 ? true : undefined;
    },
    { timeoutMs },
  );
  step(`channel of ${CHANNEL_CAPACITY_SATS} sats bob→alice active`);

  // Prove bob can route to alice with a real 1-sat payment.
  const invoice = await createInvoice({ lnd: alice.lnd, tokens: 1, description: "regtest route check" });
  const payment = await waitFor(
    "a 1-sat payment from bob to alice",
    () => pay({ lnd: bob.lnd, request: invoice.request }),
    {
      timeoutMs,
      intervalMs: 1_000,
    },
  );
  const hash = createHash("sha256").update(Buffer.from(payment.secret, "hex")).digest("hex");
  const settled = await getInvoice({ lnd: alice.lnd, id: invoice.id });
  if (hash !== invoice.id || !settled.is_confirmed) {
    throw new Error("the 1-sat route check did not settle as expected");
  }
  step("bob paid alice 1 sat");
  return { fundingTxid: channel.transaction_id, fundingOutputIndex: channel.transaction_vout };
}

async function describeNode(node: LndNode, lncliPath: string): Promise<RegtestNodeInfo> {
  const info = await getWalletInfo({ lnd: node.lnd });
  const creds = node.credentials();
  return {
    alias: node.alias,
    publicKey: info.public_key,
    socket: node.socket,
    restUrl: node.restUrl,
    p2pAddress: `${info.public_key}@${node.p2pHost}`,
    cert: creds.cert,
    adminMacaroon: creds.adminMacaroon,
    invoiceMacaroon: creds.invoiceMacaroon,
    lnddir: node.dir,
    lncli: lncliPath,
    lncliArgs: node.lncliArgs(),
    pid: node.pid ?? -1,
  };
}

function writeNetworkFile(path: string, info: RegtestNetworkInfo): void {
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.partial`;
  // 0600: the file holds admin macaroons.
  writeFileSync(partial, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  renameSync(partial, path);
}
