import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { createL402Client, FileStore, L402ClientError } from "@l402-gateway/agent-client";
import { buildPaymentChallenge, formatPaymentChallenge } from "@l402-gateway/l402";
import { createInvoice, getPendingPayments } from "lightning";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HostileServer } from "./hostile-server.js";
import {
  added,
  aliceLnd,
  bobCliEnv,
  bobLnd,
  bobPaymentHashes,
  bobWallet,
  codeOf,
  runCli,
  tempStorePath,
} from "./support.js";

/**
 * What a hostile (or broken) L402 server can do to a paying agent, tried against the real client paying from bob's
 * LND. Bob's own record of payments is the ground truth: every test counts the payments it caused there.
 */
describe("a malicious server cannot take more than the agent allowed", () => {
  let evil: HostileServer;
  let elsewhere: HostileServer;
  let before: Set<string>;

  beforeAll(async () => {
    evil = await HostileServer.start();
    elsewhere = await HostileServer.start();
  });

  afterAll(async () => {
    await evil?.close();
    await elsewhere?.close();
  });

  afterEach(() => {
    for (const server of [evil, elsewhere]) {
      server.behaviour = async () => undefined;
      server.seen.length = 0;
    }
  });

  const paidSince = async () => added(before, await bobPaymentHashes());

  it("drain by refusal: refusing every paid token gets one payment, then none until the agent allows it", async () => {
    before = await bobPaymentHashes();
    let challenges = 0;
    // Every answer is a 402, each naming a new service so that no per-service guard matches.
    evil.behaviour = (_request, res, server) => server.challenge(res, { service: `svc-${challenges++}`, sats: 3 });
    const storePath = tempStorePath();
    const client = () => createL402Client({ wallet: bobWallet(), store: new FileStore(storePath) });
    expect(await codeOf(client().fetch(`${evil.url}/a`))).toBe("payment_refused");
    expect(await paidSince()).toHaveLength(1);
    for (const path of ["/a", "/b", "/c"]) {
      expect(await codeOf(client().fetch(`${evil.url}${path}`))).toBe("origin_refused_token");
    }
    // The CLI on the same store refuses too, and pays once more only with --allow-refused.
    const env = bobCliEnv(storePath);
    const refused = await runCli(["get", `${evil.url}/a`], env);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain("origin_refused_token");
    expect(await paidSince()).toHaveLength(1);
    const allowed = await runCli(["get", `${evil.url}/a`, "--allow-refused"], env);
    expect(allowed.code).toBe(5);
    expect(allowed.stderr).toContain("payment_refused");
    expect(await paidSince()).toHaveLength(2);
    expect(await codeOf(client().fetch(`${evil.url}/a`))).toBe("origin_refused_token");
    expect(await paidSince()).toHaveLength(2);
  });

  it("a paid token answered with a 402 of another payment scheme also counts as a refusal", async () => {
    before = await bobPaymentHashes();
    evil.behaviour = async (request, res, server) => {
      if (server.paidService(request) === undefined) return server.challenge(res, { service: "bait", sats: 2 });
      res.writeHead(402, { "www-authenticate": 'Payment realm="elsewhere"' }).end("pay again, differently");
    };
    const store = new FileStore(tempStorePath());
    const first = await createL402Client({ wallet: bobWallet(), store }).fetch(`${evil.url}/x`);
    expect(first.status).toBe(402);
    expect((await store.read()).refusals).toMatchObject([{ origin: evil.url, service: "bait" }]);
    // Without the cached token the next call meets a fresh L402 challenge: not paid.
    const next = createL402Client({ wallet: bobWallet(), store });
    await next.removeTokens();
    expect(await codeOf(next.fetch(`${evil.url}/y`))).toBe("origin_refused_token");
    expect(await paidSince()).toHaveLength(1);
  });

  it("liquidity lock-up: hold invoices never settled, a new service each time, hold one payment per origin", async () => {
    before = await bobPaymentHashes();
    let challenges = 0;
    const holding = (server: HostileServer) => {
      server.behaviour = (_request, res) =>
        server.challenge(res, { service: `hold-${challenges++}`, sats: 2, hold: true });
    };
    holding(evil);
    holding(elsewhere);
    const storePath = tempStorePath();
    const client = () =>
      createL402Client({
        wallet: bobWallet(),
        store: new FileStore(storePath),
        paymentTimeoutMs: 3_000,
        maxPendingPayments: 1,
      });
    expect(await codeOf(client().fetch(`${evil.url}/a`))).toBe("payment_timeout");
    const [held] = await paidSince();
    for (const path of ["/b", "/c", "/d"]) {
      expect(await codeOf(client().fetch(`${evil.url}${path}`))).toBe("payment_pending");
    }
    // Another origin is refused too once the agent's limit of payments in flight is reached.
    expect(await codeOf(client().fetch(`${elsewhere.url}/a`))).toBe("too_many_pending");
    expect(await paidSince()).toEqual([held]);
    const inFlight = await getPendingPayments({ lnd: bobLnd, limit: 100 });
    expect(inFlight.payments.map((payment) => payment.id)).toContain(held);
    expect((await client().receipts({ status: "pending" })).map((receipt) => receipt.paymentHash)).toEqual([held]);
  });

  it("a silent server, or one that stops mid-body, is given up on after the configured timeouts", async () => {
    before = await bobPaymentHashes();
    evil.behaviour = () => undefined; // never answers
    const timeouts = { headersMs: 1_000, idleMs: 1_000 };
    const started = Date.now();
    expect(await codeOf(createL402Client({ wallet: bobWallet(), timeouts }).fetch(`${evil.url}/silent`))).toBe(
      "request_timeout",
    );
    const cli = await runCli(["get", `${evil.url}/silent`, "--headers-timeout", "1"], bobCliEnv(tempStorePath()));
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain("request_timeout");
    // Paid, then the answer stalls after its first chunk.
    evil.behaviour = async (request, res, server) => {
      if (!server.paidService(request)) return server.challenge(res, { service: "stall", sats: 2 });
      res.writeHead(200).write("first ");
    };
    const client = createL402Client({ wallet: bobWallet(), timeouts });
    const response = await client.fetch(`${evil.url}/stall`);
    const reader = response.body?.getReader();
    expect(new TextDecoder().decode((await reader?.read())?.value)).toBe("first ");
    const stalled = await reader?.read().catch((error: unknown) => error);
    expect(stalled).toBeInstanceOf(L402ClientError);
    expect(stalled).toMatchObject({ code: "request_timeout" });
    // Each timeout well under a minute, not the minutes a silent server could hold a call.
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(await paidSince()).toHaveLength(1);
    expect(await client.tokens()).toHaveLength(1);
  });

  it("a POST answered with a 307 after payment reaches its target with its body", async () => {
    before = await bobPaymentHashes();
    evil.behaviour = async (request, res, server) => {
      if (!server.paidService(request)) return server.challenge(res, { service: "post", sats: 2 });
      if (request.path === "/moved") res.writeHead(307, { location: "/here" }).end();
      else res.writeHead(200).end(`${request.method} ${request.body}`);
    };
    const response = await createL402Client({ wallet: bobWallet() }).fetch(`${evil.url}/moved`, {
      method: "POST",
      body: "the payload",
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("POST the payload");
    expect(await paidSince()).toHaveLength(1);
  });

  it("redirects to another origin neither carry the credential nor get paid", async () => {
    before = await bobPaymentHashes();
    // Paid on evil, then sent elsewhere: the request that carries the token is not followed there at all.
    evil.behaviour = async (request, res, server) => {
      if (!server.paidService(request)) return server.challenge(res, { service: "redir", sats: 2 });
      res.writeHead(307, { location: `${elsewhere.url}/collect` }).end();
    };
    elsewhere.behaviour = (_request, res) => {
      res.writeHead(200).end("collected");
    };
    const client = createL402Client({ wallet: bobWallet() });
    expect(await codeOf(client.fetch(`${evil.url}/go`))).toBe("redirect_refused");
    expect(elsewhere.seen).toEqual([]);
    expect(await paidSince()).toHaveLength(1);
    // Sent elsewhere before paying, where another server asks for money: not paid.
    evil.behaviour = (_request, res) => {
      res.writeHead(302, { location: `${elsewhere.url}/pay-me` }).end();
    };
    elsewhere.behaviour = (_request, res, server) => server.challenge(res, { service: "toll", sats: 2 });
    // A new client holds no token for evil, so the request carries no credential and the redirect is followed.
    const fresh = createL402Client({ wallet: bobWallet() });
    expect(await codeOf(fresh.fetch(`${evil.url}/go`))).toBe("redirected_challenge");
    expect(await paidSince()).toHaveLength(1);
  });

  it("what the challenge claims does not matter: the invoice's amount, hash and timelock are checked", async () => {
    before = await bobPaymentHashes();
    // Advertises 1 sat in headers and body; the invoice asks 500.
    evil.behaviour = (_request, res, server) =>
      server.challenge(res, {
        service: "cheap",
        sats: 500,
        headers: { "x-price-sats": "1" },
        body: JSON.stringify({ price_sats: 1 }),
      });
    const client = createL402Client({ wallet: bobWallet(), maxCostSats: 100 });
    const error = await client.fetch(`${evil.url}/`).catch((reason: unknown) => reason);
    expect(error).toMatchObject({ code: "over_cap", quote: { amountSats: 500 } });
    evil.behaviour = (_request, res, server) => server.challenge(res, { service: "cheap", sats: 2, foreignHash: true });
    expect(await codeOf(client.fetch(`${evil.url}/`))).toBe("payment_hash_mismatch");
    // A hold invoice that could lock the payment for ~10 days (1,500 blocks) is not paid (limit 1,008).
    evil.behaviour = (_request, res, server) =>
      server.challenge(res, { service: "cheap", sats: 2, hold: true, cltvDelta: 1_500 });
    expect(await codeOf(client.fetch(`${evil.url}/`))).toBe("timelock_too_long");
    // A challenge header too large for any HTTP client is refused by fetch itself.
    evil.behaviour = (_request, res) => {
      res.writeHead(402, { "www-authenticate": `L402 macaroon="${"A".repeat(200_000)}", invoice="x"` }).end();
    };
    await expect(client.fetch(`${evil.url}/`)).rejects.toThrow();
    expect(await paidSince()).toEqual([]);
  });

  it("a Payment offer whose request lies about its invoice is not paid, whatever the intent", async () => {
    before = await bobPaymentHashes();
    const { request: invoice, id: paymentHash } = await createInvoice({ lnd: aliceLnd, tokens: 50 });
    const offer = (intent: "charge" | "session", request: Record<string, unknown>) =>
      formatPaymentChallenge(
        buildPaymentChallenge({
          secret: randomBytes(32),
          realm: "evil",
          method: "lightning",
          intent,
          request: { currency: "sat", ...request },
          expires: new Date(Date.now() + 600_000),
        }),
      );
    const details = { invoice, paymentHash, network: "regtest" };
    const lies = [
      ["amount_mismatch", offer("charge", { amount: "1", methodDetails: details })],
      [
        "payment_hash_mismatch",
        offer("charge", { amount: "50", methodDetails: { ...details, paymentHash: "ab".repeat(32) } }),
      ],
      ["network_mismatch", offer("charge", { amount: "50", methodDetails: { ...details, network: "mainnet" } })],
      ["amount_mismatch", offer("session", { amount: "1", depositInvoice: invoice, paymentHash, depositAmount: "5" })],
    ] as const;
    const client = createL402Client({ wallet: bobWallet(), maxCostSats: 100 });
    for (const [code, challenge] of lies) {
      evil.behaviour = (_request, res) => {
        res.writeHead(402, { "www-authenticate": challenge }).end();
      };
      expect(await codeOf(client.fetch(`${evil.url}/`))).toBe(code);
    }
    expect(await paidSince()).toEqual([]);
  });

  it("names the server chooses are data, never paths: nothing is written outside the store file", async () => {
    before = await bobPaymentHashes();
    const service = "../../../../tmp/l402-escape";
    evil.behaviour = async (request, res, server) => {
      if (server.paidService(request)) res.writeHead(200).end("ok");
      else await server.challenge(res, { service, sats: 2 });
    };
    const storePath = tempStorePath();
    const client = createL402Client({ wallet: bobWallet(), store: new FileStore(storePath) });
    expect((await client.fetch(`${evil.url}/x`)).status).toBe(200);
    expect(readdirSync(dirname(storePath))).toEqual(["store.json"]);
    expect(readdirSync("/tmp").filter((name) => name.startsWith("l402-escape"))).toEqual([]);
    expect((await client.tokens()).map((token) => token.service)).toEqual([service]);
    expect(readFileSync(storePath, "utf8")).toContain(JSON.stringify(service).slice(1, -1));
    expect(await paidSince()).toHaveLength(1);
  });
  describe("a server that takes a payment and does not serve gets no second one (issue 27)", () => {
    it("attack 4: top-ups acknowledged, then the bearer call refused: one top-up, then refused", async () => {
      before = await bobPaymentHashes();
      evil.behaviour = async (request, res, server) => {
        const paid = server.paidPayment(request);
        if (paid?.action === "open") return void res.writeHead(200).end("opened and served");
        if (paid?.action === "topUp" && paid.sessionId) return server.acknowledgeTopUp(res, paid.sessionId);
        // No credential: a deposit; a bearer request: a top-up, whatever was paid in.
        await server.sessionChallenge(res, { unitSats: 1, depositSats: 3 });
      };
      const storePath = tempStorePath();
      const client = () => createL402Client({ wallet: bobWallet(), store: new FileStore(storePath) });
      const opened = await client().fetch(`${evil.url}/s`);
      expect(await opened.text()).toBe("opened and served");
      const deposit = await paidSince();
      expect(deposit).toHaveLength(1);
      const refused = await client()
        .fetch(`${evil.url}/s`)
        .catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: "payment_refused", quote: { scheme: "topUp" } });
      expect((refused as Error).message).toMatch(/cool-off 24 h.*l402 refusals clear/);
      for (let call = 0; call < 2; call++) {
        expect(await codeOf(client().fetch(`${evil.url}/s`))).toBe("origin_refused_token");
      }
      // The deposit and one top-up: not 2 top-ups a call.
      const paid = await paidSince();
      expect(paid).toHaveLength(2);
      const topUps = (await client().receipts()).filter((receipt) => receipt.paid === "topUp");
      expect(topUps.map((receipt) => receipt.paymentHash)).toEqual(paid.filter((hash) => !deposit.includes(hash)));
      expect(await client().refusals()).toMatchObject([{ origin: evil.url, reason: "refused", paid: "topUp" }]);
    });

    it("attack 5: each charge taken and the paid retry's connection reset: one payment, then a clear error", async () => {
      before = await bobPaymentHashes();
      evil.behaviour = async (request, res, server) => {
        if (server.paidPayment(request)?.action === "charge") return void res.socket?.destroy();
        await server.chargeChallenge(res, 2);
      };
      const storePath = tempStorePath();
      const events: string[] = [];
      const client = () =>
        createL402Client({
          wallet: bobWallet(),
          store: new FileStore(storePath),
          onEvent: (event) => events.push(event.type),
        });
      const lost = await client()
        .fetch(`${evil.url}/c`)
        .catch((error: unknown) => error);
      expect(lost).toMatchObject({ code: "paid_not_served", quote: { scheme: "charge", amountSats: 2 } });
      expect((lost as Error).message).toMatch(/was paid 2 sats \(one call \(Payment charge\).*3 tries.*refusals clear/);
      // The paid request was sent three times with the same credential, then given up.
      const paidTries = evil.seen.filter((seen) => seen.authorization !== undefined);
      expect(paidTries).toHaveLength(3);
      expect(new Set(paidTries.map((seen) => seen.authorization)).size).toBe(1);
      expect(events.filter((type) => type === "paid_retry")).toHaveLength(2);
      for (let call = 0; call < 4; call++) {
        const refused = await client()
          .fetch(`${evil.url}/c`)
          .catch((error: unknown) => error);
        expect(refused).toMatchObject({ code: "origin_refused_token" });
        expect((refused as Error).message).toMatch(/did not answer the paid request \(a Payment charge/);
      }
      expect(await paidSince()).toHaveLength(1);
      // The CLI on the same store says the same, and its owner can lift it.
      const cli = await runCli(["get", `${evil.url}/c`], bobCliEnv(storePath));
      expect(cli.code).toBe(5);
      expect(cli.stderr).toContain("origin_refused_token");
      const listed = await runCli(["refusals"], bobCliEnv(storePath));
      expect(JSON.parse(listed.stdout)).toMatchObject([{ origin: evil.url, reason: "unserved", active: true }]);
      expect((await runCli(["refusals", "clear", evil.url], bobCliEnv(storePath))).code).toBe(0);
      expect(await client().refusals()).toEqual([]);
      expect(await paidSince()).toHaveLength(1);
    });

    it("attack 6: paid, then the answer held past the header timeout: the call is sent again and finishes", async () => {
      before = await bobPaymentHashes();
      const held: (() => void)[] = [];
      let paidRequests = 0;
      evil.behaviour = async (request, res, server) => {
        if (!server.paidService(request)) return server.challenge(res, { service: "slow", sats: 2 });
        // The first paid request is held until the test ends; the client's own timeout gives up on it.
        if (paidRequests++ === 0) return new Promise<void>((release) => held.push(release));
        res.writeHead(200).end("served after all");
      };
      try {
        const client = createL402Client({ wallet: bobWallet(), timeouts: { headersMs: 5_000, idleMs: 5_000 } });
        const response = await client.fetch(`${evil.url}/slow`);
        expect(await response.text()).toBe("served after all");
        expect(paidRequests).toBe(2);
        expect(await paidSince()).toHaveLength(1);
        expect(await client.refusals()).toEqual([]);
      } finally {
        for (const release of held) release();
      }
    });

    it("attack 7: a 900-sat session deposit beside a 10-sat L402 token: the default pays the 10 sats", async () => {
      before = await bobPaymentHashes();
      evil.behaviour = async (request, res, server) => {
        if (server.paidService(request) || server.paidPayment(request)) return void res.writeHead(200).end("ok");
        const l402 = await server.l402ChallengeLine({ service: "cheap", sats: 10 });
        await server.sessionChallenge(res, { unitSats: 1, depositSats: 900, also: [l402] });
      };
      const client = createL402Client({ wallet: bobWallet() });
      expect((await client.fetch(`${evil.url}/x`)).status).toBe(200);
      const paid = await paidSince();
      expect(paid).toHaveLength(1);
      expect(await client.receipts()).toMatchObject([{ paymentHash: paid[0], paid: "l402", amountSats: 10 }]);
      // A per-origin limit alone keeps the default hourly budget: a 2,500-sat token is refused, nothing paid.
      evil.behaviour = (_request, res, server) => server.challenge(res, { service: "dear", sats: 2_500 });
      const perOriginOnly = createL402Client({
        wallet: bobWallet(),
        maxCostSats: 5_000,
        budget: { perOriginSats: 100_000 },
      });
      const refused = await perOriginOnly.fetch(`${evil.url}/dear`).catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: "budget_exceeded" });
      expect((refused as Error).message).toContain("hourly budget");
      expect(await paidSince()).toHaveLength(1);
    });

    it("attack 7: a *.localhost name is loopback only when it resolves there, and connects where it was checked", async () => {
      before = await bobPaymentHashes();
      evil.behaviour = async (request, res, server) => {
        if (server.paidService(request)) res.writeHead(200).end("served on loopback");
        else await server.challenge(res, { service: "named", sats: 2 });
      };
      const port = new URL(evil.url).port;
      const names = { "api.localhost": "127.0.0.1", "evil.localhost": "203.0.113.7" } as Record<string, string>;
      const resolve = async (hostname: string) => {
        const address = names[hostname];
        if (address === undefined) throw new Error(`ENOTFOUND ${hostname}`);
        return [{ address, family: 4 as const }];
      };
      const client = createL402Client({ wallet: bobWallet(), resolve });
      expect(await codeOf(client.fetch(`http://evil.localhost:${port}/x`))).toBe("insecure_origin");
      expect(evil.seen).toEqual([]);
      const response = await client.fetch(`http://api.localhost:${port}/x`);
      expect(await response.text()).toBe("served on loopback");
      expect(await paidSince()).toHaveLength(1);
    });
  });
});
