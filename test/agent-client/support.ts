import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  createL402Client,
  type L402Client,
  L402ClientError,
  type L402ClientErrorCode,
  type L402ClientOptions,
  LndWallet,
  MemoryStore,
  type Wallet,
} from "@l402-gateway/agent-client";
import { type GatewayConfig, parseConfig, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import { getChannelBalance, getFailedPayments, getInvoices, getPayments, getPendingPayments } from "lightning";
import pino from "pino";
import { afterAll, beforeAll, expect } from "vitest";
import { testNetwork } from "../regtest/context.js";
import { gatewayLndConfig, lndClient } from "../regtest/network-file.js";
import { REPO_ROOT } from "../regtest/paths.js";
import { checkAccounting } from "../support/accounting.js";
import { ensureOperatorCanPay } from "../support/operator-liquidity.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";

export const network = testNetwork();
/** The agent's node: it holds the funds of the bob → alice channel. */
export const bobLnd = lndClient(network.nodes.bob);
/** The operator's node, read here with its admin macaroon to count settled invoices. */
export const aliceLnd = lndClient(network.nodes.alice);

export const LLM_PRICE_SATS = 50;
export const WEATHER_PRICE_SATS = 5;

export function bobWallet(): LndWallet {
  return LndWallet.connect({
    socket: network.nodes.bob.socket,
    cert: network.nodes.bob.cert,
    macaroon: network.nodes.bob.adminMacaroon,
  });
}

/** A client paying from bob's node with an in-memory store, a 100-sat cap and a 1,000-sat total budget. */
export function bobClient(options: Partial<L402ClientOptions> = {}): L402Client {
  return createL402Client({
    wallet: bobWallet(),
    store: new MemoryStore(),
    maxCostSats: 100,
    budget: { totalSats: 1_000 },
    ...options,
  });
}

/** The client error code a call was refused with, or undefined when it succeeded; any other error is rethrown. */
export async function codeOf(promise: Promise<unknown>): Promise<L402ClientErrorCode | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (error instanceof L402ClientError) return error.code;
    throw error;
  }
}

export function tempStorePath(): string {
  return join(mkdtempSync(join(tmpdir(), "l402-agent-")), "store.json");
}

/** A real gateway on alice: /v1/ is the llm service, /weather/ another service on the same origin. */
export function startTestGateway(upstream: string, overrides: Record<string, unknown> = {}): Promise<RunningGateway> {
  const config: GatewayConfig = parseConfig({
    listen: { port: 0 },
    operator: { port: 0 },
    lnd: gatewayLndConfig(network.nodes.alice),
    store: { path: join(mkdtempSync(join(tmpdir(), "l402-agent-gw-")), "gateway.sqlite") },
    log: { level: "silent" },
    // Each unpaid call gets a challenge: the concurrency test sends ten at once.
    limits: { challengeBurst: 100, challengesPerMinute: 600 },
    services: [
      { name: "llm", match: { pathPrefix: "/v1/" }, upstream, price: { sats: LLM_PRICE_SATS } },
      { name: "weather", match: { pathPrefix: "/weather/" }, upstream, price: { sats: WEATHER_PRICE_SATS } },
    ],
    ...overrides,
  });
  return startGateway(config, { log: pino({ level: "silent" }) });
}

/** An upstream and the test gateway in front of it, started before the file's tests and stopped after them. */
export function useTestGateway(overrides: (upstreamUrl: string) => Record<string, unknown> = () => ({})): {
  readonly gateway: RunningGateway;
  readonly upstream: TestUpstream;
} {
  let running: { gateway: RunningGateway; upstream: TestUpstream } | undefined;
  beforeAll(async () => {
    const upstream = await startUpstream();
    running = { upstream, gateway: await startTestGateway(upstream.url, overrides(upstream.url)) };
  });
  afterAll(async () => {
    await running?.gateway.close();
    await running?.upstream.close();
  });
  const started = () => {
    if (!running) throw new Error("the test gateway is not started yet");
    return running;
  };
  return {
    get gateway() {
      return started().gateway;
    },
    get upstream() {
      return started().upstream;
    },
  };
}

/**
 * A test gateway that can refund (alice's admin macaroon) with only `services`, its store at `storePath` for the
 * accounting check, and alice able to pay bob back.
 */
export function useRefundingGateway(services: (upstreamUrl: string) => unknown[]): {
  readonly gateway: RunningGateway;
  readonly upstream: TestUpstream;
  readonly storePath: string;
} {
  const storePath = join(mkdtempSync(join(tmpdir(), "l402-agent-refunding-gw-")), "gateway.sqlite");
  beforeAll(() => ensureOperatorCanPay(aliceLnd, bobLnd, 1_000));
  const running = useTestGateway((upstreamUrl) => ({
    lnd: { ...gatewayLndConfig(network.nodes.alice), refundMacaroon: network.nodes.alice.adminMacaroon },
    store: { path: storePath },
    services: services(upstreamUrl),
  }));
  return {
    get gateway() {
      return running.gateway;
    },
    get upstream() {
      return running.upstream;
    },
    storePath,
  };
}

/** Payment hashes of every payment bob's LND has a record of: succeeded, failed or still in flight. */
export async function bobPaymentHashes(): Promise<Set<string>> {
  const hashes = new Set<string>();
  for (const list of [getPayments, getPendingPayments, getFailedPayments]) {
    let token: string | undefined;
    do {
      const page = await list({ lnd: bobLnd, ...(token ? { token } : { limit: 100 }) });
      for (const payment of page.payments) hashes.add(payment.id);
      token = page.next;
    } while (token);
  }
  return hashes;
}

/** Payment hashes of alice's settled invoices. */
export async function aliceSettledHashes(): Promise<Set<string>> {
  const hashes = new Set<string>();
  let token: string | undefined;
  do {
    const page = await getInvoices({ lnd: aliceLnd, ...(token ? { token } : { limit: 100 }) });
    for (const invoice of page.invoices) if (invoice.is_confirmed) hashes.add(invoice.id);
    token = page.next;
  } while (token);
  return hashes;
}

export async function bobChannelBalanceMsat(): Promise<bigint> {
  const balance = await getChannelBalance({ lnd: bobLnd });
  return BigInt(balance.channel_balance_mtokens ?? String(balance.channel_balance * 1000));
}

/** The members of `after` that are not in `before`. */
export function added(before: ReadonlySet<string>, after: ReadonlySet<string>): string[] {
  return [...after].filter((item) => !before.has(item));
}

const execFileAsync = promisify(execFile);
const CLI = join(REPO_ROOT, "agent-client", "dist", "cli.js");

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `l402` CLI (the file npm links as the `l402` bin) with only PATH, HOME and `env`. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw error;
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

/** Bob's wallet for the CLI, through the environment. */
export function bobCliEnv(storePath: string): Record<string, string> {
  return {
    L402_STORE: storePath,
    L402_LND_SOCKET: network.nodes.bob.socket,
    L402_LND_CERT: network.nodes.bob.cert,
    L402_LND_MACAROON: network.nodes.bob.adminMacaroon,
  };
}

/** A wallet that sends the payment through `real`, then dies before the client can record the outcome. */
export function crashingAfterSend(real: Wallet): Wallet {
  return {
    pay: async (order) => {
      await real.pay(order);
      throw new Error("simulated crash after the payment left");
    },
    lookupPayment: (hash) => real.lookupPayment(hash),
    ...(real.lookupIsAuthoritative === undefined ? {} : { lookupIsAuthoritative: real.lookupIsAuthoritative }),
  };
}

/** The accounting invariant on the gateway's store and alice's LND, once the settlement watcher caught up. */
export async function expectBooksToBalance(gatewayStorePath: string): Promise<void> {
  await expect
    .poll(
      async () => (await checkAccounting({ storePath: gatewayStorePath, lnd: aliceLnd, quiescent: true })).violations,
      {
        timeout: 30_000,
      },
    )
    .toEqual([]);
}
