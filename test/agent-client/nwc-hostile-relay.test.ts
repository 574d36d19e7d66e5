import { spawn } from "node:child_process";
import { join } from "node:path";
import { createL402Client, FileStore, type L402Client, NwcWallet, type Receipt } from "@l402-gateway/agent-client";
import { getPayment } from "lightning";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../regtest/paths.js";
import { HostileRelay, type RelayedEvent } from "../support/hostile-relay.js";
import { type Nip47Content, type NwcService, startNwcWalletService } from "../support/nwc-wallet-service.js";
import { HostileServer } from "./hostile-server.js";
import { added, bobLnd, bobPaymentHashes, codeOf, tempStorePath } from "./support.js";

const PRICE_SATS = 40;
const BUDGET_SATS = 100;
const MAX_FEE_SATS = 5;
const PAYMENT_TIMEOUT_MS = 3_000;

/** A server that wants a new payment for every path: each path is its own service, paid once. */
async function startPayPerPathServer(): Promise<HostileServer> {
  const server = await HostileServer.start();
  server.behaviour = async (request, res) => {
    const service = `svc${request.path.replaceAll("/", "-")}`;
    if (server.paidService(request) === service) res.writeHead(200, { "content-type": "text/plain" }).end("served");
    else await server.challenge(res, { service, sats: PRICE_SATS });
  };
  return server;
}

/** What bob's LND paid (succeeded), by payment hash, among the payments it made since `before`. */
async function bobPaidSince(before: ReadonlySet<string>): Promise<Map<string, number>> {
  const paid = new Map<string, number>();
  for (const id of added(before, await bobPaymentHashes())) {
    const payment = await getPayment({ lnd: bobLnd, id });
    if (payment.is_confirmed && payment.payment) paid.set(id, payment.payment.tokens + payment.payment.fee);
  }
  return paid;
}

/**
 * The spending guarantee against bob's LND: what it paid is within the budget, and the client's store counts every
 * such payment (succeeded or pending, never failed or missing).
 */
async function expectBudgetHeld(
  before: ReadonlySet<string>,
  receipts: readonly Receipt[],
): Promise<Map<string, number>> {
  const paid = await bobPaidSince(before);
  expect([...paid.values()].reduce((sum, sats) => sum + sats, 0)).toBeLessThanOrEqual(BUDGET_SATS);
  for (const paymentHash of paid.keys()) {
    const receipt = receipts.find((candidate) => candidate.paymentHash === paymentHash);
    expect(receipt?.status, `bob paid ${paymentHash}`).toMatch(/^(succeeded|pending)$/);
  }
  return paid;
}

describe("a hostile Nostr relay between the agent and its NWC wallet service (bob's LND)", () => {
  let relay: HostileRelay;
  let service: NwcService;
  const servers: HostileServer[] = [];
  const wallets: NwcWallet[] = [];

  /** What a relayed event says, read with the wallet service's key (cached: the rule and the test both ask). */
  const contents = new Map<string, Promise<Nip47Content | undefined>>();
  const read = (seen: Pick<RelayedEvent, "event">) => {
    let content = contents.get(seen.event.id);
    if (!content) {
      content = service.inspect(seen.event);
      contents.set(seen.event.id, content);
    }
    return content;
  };
  const isPayRequest = async (seen: Pick<RelayedEvent, "event">) => {
    const content = await read(seen);
    return content?.kind === "request" && content.method === "pay_invoice";
  };
  const isPayResponse = async (seen: Pick<RelayedEvent, "event">, errorCode?: string) => {
    const content = await read(seen);
    return content?.kind === "response" && content.resultType === "pay_invoice" && content.errorCode === errorCode;
  };
  /** The relayed event that is a response to `request`. */
  const answers = (seen: Pick<RelayedEvent, "event" | "direction">, request: Pick<RelayedEvent, "event">) =>
    seen.direction === "response" && seen.event.tags.some((tag) => tag[0] === "e" && tag[1] === request.event.id);

  const server = async () => {
    const started = await startPayPerPathServer();
    servers.push(started);
    return started;
  };
  const client = (storePath: string, paymentTimeoutMs = PAYMENT_TIMEOUT_MS): L402Client => {
    const wallet = NwcWallet.fromUri(service.uri, { requestTimeoutMs: paymentTimeoutMs });
    wallets.push(wallet);
    return createL402Client({
      wallet,
      store: new FileStore(storePath),
      budget: { totalSats: BUDGET_SATS },
      maxFeeSats: MAX_FEE_SATS,
      paymentTimeoutMs,
    });
  };

  beforeAll(async () => {
    relay = await HostileRelay.start();
    service = await startNwcWalletService(relay.url, bobLnd);
  });

  afterEach(async () => {
    relay.rule = () => "pass";
    relay.release();
    for (const wallet of wallets.splice(0)) wallet.close();
    for (const started of servers.splice(0)) await started.close();
  });

  afterAll(async () => {
    service?.close();
    await relay?.close();
  });

  it("attack 1: a withheld success reply and a replayed request answered PAYMENT_FAILED do not free the budget", async () => {
    const before = await bobPaymentHashes();
    const storePath = tempStorePath();
    const target = await server();
    const replayed = new Set<string>();
    relay.rule = async (seen) => {
      if (seen.direction !== "response" || !(await isPayResponse(seen))) return "pass";
      // Hold back the success and make the wallet service pay the same request again: LND says "already paid".
      const request = relay.log.find((candidate) => candidate.direction === "request" && answers(seen, candidate));
      if (request && !replayed.has(request.event.id)) {
        replayed.add(request.event.id);
        relay.replay(request.event);
      }
      return "hold";
    };
    const agent = client(storePath);
    const outcomes: (string | undefined)[] = [];
    for (let call = 0; call < 5; call++) outcomes.push(await codeOf(agent.fetch(`${target.url}/call/${call}`)));

    // Each PAYMENT_FAILED answered a replayed request, and the lookup found the payment: the calls were served.
    expect(replayed.size).toBeGreaterThan(0);
    const failures = await Promise.all(relay.log.map((seen) => isPayResponse(seen, "PAYMENT_FAILED")));
    expect(failures.filter(Boolean).length).toBe(replayed.size);
    expect(outcomes).toEqual([undefined, undefined, "budget_exceeded", "budget_exceeded", "budget_exceeded"]);
    const receipts = await agent.receipts();
    const paid = await expectBudgetHeld(before, receipts);
    expect(paid.size).toBe(2);
    expect(
      receipts
        .filter((receipt) => receipt.status === "succeeded")
        .map((receipt) => receipt.paymentHash)
        .sort(),
    ).toEqual([...paid.keys()].sort());
    expect(receipts.some((receipt) => receipt.status === "failed")).toBe(false);
  });

  it("attack 2: pay_invoice held while lookups pass stays pending and counted; released later, the budget holds", async () => {
    const before = await bobPaymentHashes();
    const storePath = tempStorePath();
    const [a, b, c] = [await server(), await server(), await server()];
    relay.rule = async (seen) => ((await isPayRequest(seen)) ? "hold" : "pass");
    const agent = client(storePath);

    expect(await codeOf(agent.fetch(`${a.url}/one`))).toBe("payment_timeout");
    // The origin's payment is unknown to the wallet service, not failed: nothing more is paid there.
    expect(await codeOf(agent.fetch(`${a.url}/two`))).toBe("payment_pending");
    expect(await codeOf(agent.fetch(`${b.url}/one`))).toBe("payment_timeout");
    // Two pending payments count 2 × (40 + 5) against the budget of 100.
    expect(await codeOf(agent.fetch(`${c.url}/one`))).toBe("budget_exceeded");
    expect(relay.held).toHaveLength(2);
    expect(await bobPaidSince(before)).toEqual(new Map());
    expect((await agent.receipts()).map((receipt) => receipt.status)).toEqual(["pending", "pending"]);

    // The relay lets the held requests through (after their expiration, which this wallet service ignores).
    relay.rule = () => "pass";
    const released = relay.release().map((event) => relay.log.find((seen) => seen.event.id === event.id));
    await Promise.all(
      released.map((request) =>
        relay.seen((seen) => request !== undefined && answers(seen, request)).then((seen) => isPayResponse(seen)),
      ),
    );
    const paid = await expectBudgetHeld(before, await agent.receipts());
    expect(paid.size).toBe(2);

    // A restarted client resolves both by lookup and pays nothing more; the budget is spent.
    const restarted = client(storePath);
    expect(await restarted.resolvePending()).toEqual([]);
    expect((await restarted.receipts()).map((receipt) => receipt.status)).toEqual(["succeeded", "succeeded"]);
    expect((await restarted.fetch(`${a.url}/one`)).status).toBe(200);
    expect(await codeOf(restarted.fetch(`${c.url}/one`))).toBe("budget_exceeded");
    expect(await bobPaidSince(before)).toEqual(paid);
  });

  it("attack 3: every reply dropped, each call ends within the client's timeout and nothing is paid past the budget", async () => {
    const before = await bobPaymentHashes();
    const storePath = tempStorePath();
    const origins = [await server(), await server(), await server()];
    relay.rule = (seen) => (seen.direction === "response" ? "drop" : "pass");
    const agent = client(storePath);

    const ended: { code: string | undefined; ms: number }[] = [];
    for (const origin of origins) {
      const started = performance.now();
      ended.push({ code: await codeOf(agent.fetch(`${origin.url}/one`)), ms: performance.now() - started });
    }
    expect(ended.map((call) => call.code)).toEqual(["payment_timeout", "payment_timeout", "budget_exceeded"]);
    // pay_invoice within the timeout, then one lookup within it too: far from the SDK's 60 s.
    for (const call of ended) expect(call.ms).toBeLessThan(2 * PAYMENT_TIMEOUT_MS + 5_000);
    const paid = await expectBudgetHeld(before, await agent.receipts());
    expect(paid.size).toBe(2);

    // The relay behaves again: the pending payments resolve by lookup, without paying again.
    relay.rule = () => "pass";
    expect(await client(storePath).resolvePending()).toEqual([]);
    expect((await agent.receipts()).map((receipt) => receipt.status)).toEqual(["succeeded", "succeeded"]);
    expect(await bobPaidSince(before)).toEqual(paid);
  });

  it("duplicated, reordered and replayed replies: each call takes only its own reply", async () => {
    const before = await bobPaymentHashes();
    const storePath = tempStorePath();
    const [a, b] = [await server(), await server()];
    // Responses to pay_invoice are held until both are in, then delivered twice each, in reverse order; before
    // each new request, every earlier response is replayed.
    relay.rule = async (seen) => {
      if (seen.direction === "request") {
        for (const earlier of relay.log) if (earlier.direction === "response") relay.replay(earlier.event);
        return "pass";
      }
      return (await isPayResponse(seen)) ? "hold" : "duplicate";
    };
    // A timeout long enough that the calls wait for the held replies rather than look their payments up.
    const agent = client(storePath, 60_000);
    const calls = Promise.all([agent.fetch(`${a.url}/one`), agent.fetch(`${b.url}/one`)]);
    await expect.poll(() => relay.held.length, { timeout: 60_000 }).toBe(2);
    relay.rule = (seen) => (seen.direction === "response" ? "duplicate" : "pass");
    for (const event of relay.release(() => true, "reverse")) relay.replay(event);

    const responses = await calls;
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    const receipts = await agent.receipts();
    const paid = await expectBudgetHeld(before, receipts);
    expect(paid.size).toBe(2);
    expect(receipts.map((receipt) => receipt.status)).toEqual(["succeeded", "succeeded"]);
  });

  it("attack 3, out of process: after a call whose replies were dropped and close(), the process exits by itself", async () => {
    const before = await bobPaymentHashes();
    const target = await server();
    relay.rule = (seen) => (seen.direction === "response" ? "drop" : "pass");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(REPO_ROOT, "test", "agent-client", "nwc-exit-child.ts"), `${target.url}/one`],
      { cwd: REPO_ROOT, env: { ...process.env, NWC_URI: service.uri }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    let printedAt = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      printedAt = performance.now();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolveExit, rejectExit) => {
      child.on("error", rejectExit);
      // "close", not "exit": the output checked below may still be in the pipes when the child exits.
      child.on("close", (exitCode) => resolveExit(exitCode));
    });
    const lingeredMs = performance.now() - printedAt;
    expect({ code, stdout: stdout.trim() }, stderr).toEqual({ code: 0, stdout: "payment_timeout" });
    // The SDK this replaced kept a 60 s reply timer running after the call had given up.
    expect(lingeredMs).toBeLessThan(15_000);
    // The request itself went through: bob's LND paid once, the one payment the child's budget allowed.
    expect((await bobPaidSince(before)).size).toBe(1);
  });
});
