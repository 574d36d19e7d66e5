import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeMacaroon } from "@l402-gateway/l402";
import { beforeEach, describe, expect, it } from "vitest";
import { createL402Client, createL402Fetch, DEFAULT_BUDGET, type L402ClientOptions } from "./client.js";
import { L402ClientError, type L402ClientErrorCode } from "./errors.js";
import { FileStore } from "./store/file.js";
import { MemoryStore } from "./store/memory.js";
import { FakeGateway, FakeLightning, FakeWallet } from "./test-support/fakes.js";
import { makeInvoice } from "./test-support/invoices.js";

const ORIGIN = "https://gateway.test";

let lightning: FakeLightning;
let gateway: FakeGateway;
let wallet: FakeWallet;

beforeEach(() => {
  lightning = new FakeLightning();
  gateway = new FakeGateway(lightning, [
    { name: "llm", prefix: "/v1/", priceSats: 50 },
    { name: "weather", prefix: "/weather/", priceSats: 5 },
  ]);
  wallet = new FakeWallet(lightning);
});

function client(options: Partial<L402ClientOptions> = {}) {
  return createL402Client({ wallet, fetch: gateway.fetch, ...options });
}

async function expectCode(promise: Promise<unknown>, code: L402ClientErrorCode): Promise<L402ClientError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(L402ClientError);
  expect((error as L402ClientError).code).toBe(code);
  return error as L402ClientError;
}

function tempStorePath(): string {
  return join(mkdtempSync(join(tmpdir(), "l402-client-")), "nested", "store.json");
}

describe("paying and reusing", () => {
  it("pays a 402, retries with the L402 credential and replays the body, then reuses the token", async () => {
    const l402 = client();
    const first = await l402.fetch(`${ORIGIN}/v1/chat`, { method: "POST", body: "hello" });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ service: "llm", body: "hello", method: "POST" });
    expect(gateway.requests.at(-1)?.authorization).toMatch(/^L402 [A-Za-z0-9+/=]+:[0-9a-f]{64}$/);
    const second = await l402.fetch(`${ORIGIN}/v1/other`, { method: "POST", body: "again" });
    expect(await second.json()).toMatchObject({ service: "llm", body: "again" });
    expect(wallet.orders).toHaveLength(1);
    // The second call went straight through with the cached token: no 402 in between.
    expect(gateway.requests.map((request) => request.authorization === null)).toEqual([true, false, false]);
    const [receipt] = await l402.receipts();
    expect(receipt).toMatchObject({ status: "succeeded", amountSats: 50, feeSats: 1, origin: ORIGIN, service: "llm" });
  });

  it("replays Request objects, URLSearchParams, Buffer and one-shot stream bodies", async () => {
    const l402 = client();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("streamed"));
        controller.close();
      },
    });
    const fromRequest = await l402.fetch(
      new Request(`${ORIGIN}/v1/a`, { method: "POST", body: stream, duplex: "half" } as RequestInit),
    );
    expect(await fromRequest.json()).toMatchObject({ body: "streamed" });
    const form = await l402.fetch(`${ORIGIN}/weather/b`, { method: "POST", body: new URLSearchParams({ q: "x y" }) });
    expect(await form.json()).toMatchObject({ body: "q=x+y", service: "weather" });
    const buffer = await l402.fetch(`${ORIGIN}/v1/c`, { method: "PUT", body: Buffer.from("bytes") });
    expect(await buffer.json()).toMatchObject({ body: "bytes", method: "PUT" });
    // Every attempt, the unpaid probe and each retry, carried the whole body.
    expect(gateway.requests.map((request) => request.body)).toEqual([
      "streamed",
      "streamed",
      "q=x+y",
      "q=x+y",
      "bytes",
    ]);
  });

  it("passes free paths and non-L402 responses through untouched", async () => {
    const l402 = client();
    expect(await (await l402.fetch(`${ORIGIN}/free`)).json()).toMatchObject({ free: true });
    const other = createL402Fetch({
      wallet,
      fetch: async () => new Response("pay elsewhere", { status: 402, headers: { "www-authenticate": "Bearer" } }),
    });
    const response = await other(`${ORIGIN}/x`);
    expect(response.status).toBe(402);
    expect(await response.text()).toBe("pay elsewhere");
    expect(wallet.orders).toHaveLength(0);
  });

  it("keeps one token per service on one origin and does not thrash between them", async () => {
    const l402 = client();
    for (let round = 0; round < 3; round++) {
      expect((await l402.fetch(`${ORIGIN}/v1/chat`)).status).toBe(200);
      expect((await l402.fetch(`${ORIGIN}/weather/paris`)).status).toBe(200);
    }
    expect(wallet.orders.map((order) => order.amountSats)).toEqual([50, 5]);
    expect((await l402.tokens()).map((token) => token.service).sort()).toEqual(["llm", "weather"]);
    // After learning the routes every call goes straight through: 2 unpaid probes, 2 paid retries, 4 direct calls.
    expect(gateway.requests).toHaveLength(8);
  });

  it("reuses a token cached for the challenged service when the route hint was wrong", async () => {
    const l402 = client();
    await l402.fetch(`${ORIGIN}/v1/chat`);
    await l402.fetch(`${ORIGIN}/weather/paris`);
    // /v1/models has the scope /v1/ too; /weather-like paths under an unknown scope try the most recent token.
    const response = await l402.fetch(`${ORIGIN}/v1/models`);
    expect(response.status).toBe(200);
    expect(wallet.orders).toHaveLength(2);
  });

  it("pays one invoice for ten concurrent calls that meet the same 402", async () => {
    const l402 = client();
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => l402.fetch(`${ORIGIN}/v1/chat`, { method: "POST", body: `call ${i}` })),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(10).fill(200));
    expect(wallet.orders).toHaveLength(1);
    expect(lightning.paid.size).toBe(1);
  });
});

describe("refusals and bad input", () => {
  it("drops a refused token and pays the new challenge once", async () => {
    const l402 = client();
    await l402.fetch(`${ORIGIN}/v1/chat`);
    const [token] = await l402.tokens();
    gateway.revoked.add(token?.paymentHash ?? "");
    expect((await l402.fetch(`${ORIGIN}/v1/chat`)).status).toBe(200);
    expect(wallet.orders).toHaveLength(2);
    expect((await l402.tokens()).map((t) => t.paymentHash)).not.toContain(token?.paymentHash);
  });

  it("stops after one payment when the server answers 402 forever, and pays that origin no more unless allowed", async () => {
    gateway.refuseAll = true;
    const store = new MemoryStore();
    await expectCode(client({ store }).fetch(`${ORIGIN}/v1/chat`), "payment_refused");
    expect(wallet.orders).toHaveLength(1);
    // Any service of that origin, any later call, any client on the store: refused before paying.
    for (const path of ["/v1/chat", "/weather/x"]) {
      const error = await expectCode(client({ store }).fetch(`${ORIGIN}${path}`), "origin_refused_token");
      expect(error.message).toContain("allowRefusedOrigins");
    }
    expect(wallet.orders).toHaveLength(1);
    // Allowed explicitly: paid once more; the server, now fixed, accepts it, and the record is cleared.
    gateway.refuseAll = false;
    const allowed = client({ store, allowRefusedOrigins: [`${ORIGIN}/`] });
    expect((await allowed.fetch(`${ORIGIN}/v1/chat`)).status).toBe(200);
    expect(wallet.orders).toHaveLength(2);
    expect((await store.read()).refusals).toEqual([]);
    expect((await client({ store }).fetch(`${ORIGIN}/weather/x`)).status).toBe(200);
  });

  it("refuses a price over the cap, counting the maximum fee, and pays nothing", async () => {
    const error = await expectCode(client({ maxCostSats: 55, maxFeeSats: 10 }).fetch(`${ORIGIN}/v1/chat`), "over_cap");
    expect(error.quote).toMatchObject({ amountSats: 50, maxFeeSats: 10, service: "llm", origin: ORIGIN });
    expect(wallet.orders).toHaveLength(0);
    expect((await client({ maxCostSats: 60, maxFeeSats: 10 }).fetch(`${ORIGIN}/v1/chat`)).status).toBe(200);
  });

  it("refuses an invoice whose timelock is longer than maxLockBlocks, also in a dry run", async () => {
    // The fake gateway's invoices carry no CLTV delta: BOLT 11's default of 18 blocks.
    await expectCode(client({ maxLockBlocks: 17 }).fetch(`${ORIGIN}/v1/chat`), "timelock_too_long");
    await expectCode(client({ maxLockBlocks: 17 }).preview(`${ORIGIN}/v1/chat`), "timelock_too_long");
    expect(wallet.orders).toHaveLength(0);
    expect((await client({ maxLockBlocks: 18 }).fetch(`${ORIGIN}/v1/chat`)).status).toBe(200);
  });

  it("refuses a malformed challenge", async () => {
    gateway.challengeOverride = () => ['L402 macaroon="not base64!", invoice="lnbcrt1"'];
    await expectCode(client().fetch(`${ORIGIN}/v1/chat`), "malformed_challenge");
    gateway.challengeOverride = ({ invoice }) => [`L402 macaroon="AgEDbG5k", invoice="${invoice}"`];
    await expectCode(client().fetch(`${ORIGIN}/v1/chat`), "malformed_challenge");
    expect(wallet.orders).toHaveLength(0);
  });

  it("refuses an invoice whose hash is not the macaroon's", async () => {
    gateway.challengeOverride = ({ macaroon }) => {
      const other = lightning.issue(50).invoice;
      return [`L402 macaroon="${macaroon}", invoice="${other}"`];
    };
    await expectCode(client().fetch(`${ORIGIN}/v1/chat`), "payment_hash_mismatch");
    expect(wallet.orders).toHaveLength(0);
  });

  it("refuses an expired invoice and a zero-amount invoice", async () => {
    const later = new Date(Date.now() + 3_600_000);
    await expectCode(client({ now: () => later }).fetch(`${ORIGIN}/v1/chat`), "invoice_expired");
    gateway.challengeOverride = ({ macaroon }) => {
      const paymentHash = decodeMacaroon(macaroon).identifier.paymentHash.toString("hex");
      return [`L402 macaroon="${macaroon}", invoice="${makeInvoice({ amountSats: 0, paymentHash }).invoice}"`];
    };
    await expectCode(client().fetch(`${ORIGIN}/v1/chat`), "zero_amount_invoice");
    expect(wallet.orders).toHaveLength(0);
  });

  it("reads Aperture's LSAT-only challenge and the spec's token= form in any order", async () => {
    gateway.challengeOverride = ({ macaroon, invoice }) => [`LSAT macaroon="${macaroon}", invoice="${invoice}"`];
    expect((await client().fetch(`${ORIGIN}/v1/a`)).status).toBe(200);
    // An LSAT-only server (Aperture before v0.3) gets its own scheme back.
    expect(gateway.requests.at(-1)?.authorization).toMatch(/^LSAT /);
    gateway.challengeOverride = ({ macaroon, invoice }) => [
      `L402 invoice="${invoice}", version="0", token="${macaroon}"`,
    ];
    expect((await client().fetch(`${ORIGIN}/v1/b`)).status).toBe(200);
    expect(gateway.requests.at(-1)?.authorization).toMatch(/^L402 /);
    expect(wallet.orders).toHaveLength(2);
  });

  it("records a failed payment as failed, spends nothing, and can pay later", async () => {
    wallet.mode = "fail";
    const l402 = client({ budget: { totalSats: 60 } });
    await expectCode(l402.fetch(`${ORIGIN}/v1/chat`), "payment_failed");
    expect(await l402.receipts()).toMatchObject([{ status: "failed", feeSats: null }]);
    expect((await l402.budget()).spent.totalSats).toBe(0);
    wallet.mode = "ok";
    expect((await l402.fetch(`${ORIGIN}/v1/chat`)).status).toBe(200);
  });
});

describe("dry run", () => {
  it("shows the price and pays nothing", async () => {
    const error = await expectCode(client({ dryRun: true }).fetch(`${ORIGIN}/v1/chat`), "dry_run");
    expect(error.quote).toMatchObject({ amountSats: 50, maxFeeSats: 10, service: "llm" });
    expect(await client().preview(`${ORIGIN}/weather/x`)).toMatchObject({ amountSats: 5, service: "weather" });
    expect(wallet.orders).toHaveLength(0);
  });
});

describe("budgets", () => {
  it("applies DEFAULT_BUDGET when no limit is configured", async () => {
    expect((await client().budget()).limits).toEqual(DEFAULT_BUDGET);
    expect((await client({ budget: {} }).budget()).limits).toEqual(DEFAULT_BUDGET);
    const dear = new FakeGateway(lightning, [{ name: "llm", prefix: "/v1/", priceSats: 2_500 }]);
    await expectCode(client({ fetch: dear.fetch, maxCostSats: 5_000 }).fetch(`${ORIGIN}/v1/chat`), "budget_exceeded");
    expect(wallet.orders).toHaveLength(0);
    const configured = client({ fetch: dear.fetch, maxCostSats: 5_000, budget: { dailySats: 3_000 } });
    expect((await configured.fetch(`${ORIGIN}/v1/chat`)).status).toBe(200);
  });

  it("refuses payments past the hourly budget, and a new client on the same file remembers the spending", async () => {
    const store = new FileStore(tempStorePath());
    const l402 = client({ store, budget: { hourlySats: 120 }, maxFeeSats: 10 });
    await l402.fetch(`${ORIGIN}/v1/chat`);
    await l402.removeTokens();
    // 51 spent (50 + 1 fee); the next needs up to 60 more: 111 ≤ 120.
    await l402.fetch(`${ORIGIN}/v1/chat`);
    await l402.removeTokens();
    const restarted = client({ store: new FileStore(store.path), budget: { hourlySats: 120 } });
    await expectCode(restarted.fetch(`${ORIGIN}/v1/chat`), "budget_exceeded");
    expect(wallet.orders).toHaveLength(2);
    const inTwoHours = new Date(Date.now() + 2 * 3_600_000);
    expect((await client({ store, budget: { hourlySats: 120 } }).budget()).spent.lastHourSats).toBe(102);
    expect(
      (await client({ store, budget: { hourlySats: 120 }, now: () => inTwoHours }).budget()).spent.lastHourSats,
    ).toBe(0);
  });

  it("a per-origin limit is added to the default budgets, never instead of them", async () => {
    expect((await client({ budget: { perOriginSats: 100 } }).budget()).limits).toEqual({
      ...DEFAULT_BUDGET,
      perOriginSats: 100,
    });
    expect((await client({ budget: { totalSats: 500, perOriginSats: 100 } }).budget()).limits).toEqual({
      totalSats: 500,
      perOriginSats: 100,
    });
    const dear = new FakeGateway(lightning, [{ name: "llm", prefix: "/v1/", priceSats: 2_500 }]);
    const perOriginOnly = client({ fetch: dear.fetch, maxCostSats: 5_000, budget: { perOriginSats: 10_000 } });
    await expectCode(perOriginOnly.fetch(`${ORIGIN}/v1/chat`), "budget_exceeded");
    expect(wallet.orders).toHaveLength(0);
  });

  it("applies daily, total and per-origin limits", async () => {
    for (const budget of [{ dailySats: 59 }, { totalSats: 59 }, { perOriginSats: 59 }]) {
      const error = await expectCode(client({ budget }).fetch(`${ORIGIN}/v1/chat`), "budget_exceeded");
      expect(error.message).toMatch(/budget/);
    }
    const perOrigin = client({ budget: { perOriginSats: 100 } });
    await perOrigin.fetch(`${ORIGIN}/v1/chat`);
    await perOrigin.removeTokens({ origin: ORIGIN });
    await expectCode(perOrigin.fetch(`${ORIGIN}/v1/chat`), "budget_exceeded");
    // Another origin has its own allowance.
    expect((await perOrigin.fetch("https://other.test/v1/chat")).status).toBe(200);
    expect(wallet.orders.map((order) => order.amountSats)).toEqual([50, 50]);
  });
});

describe("after a payment", () => {
  /** The fake gateway, but every request that carries a credential has its connection reset `resets` times. */
  function resetting(resets: number) {
    let left = resets;
    return async (request: Request): Promise<Response> => {
      if (request.headers.has("authorization") && left-- > 0) {
        await gateway.fetch(request);
        throw new TypeError("fetch failed", { cause: new Error("socket hang up") });
      }
      return gateway.fetch(request);
    };
  }

  it("sends the paid request again with the paid credential when its answer is lost, and finishes the call", async () => {
    const events: string[] = [];
    const l402 = client({ fetch: resetting(2), onEvent: (event) => events.push(event.type) });
    const response = await l402.fetch(`${ORIGIN}/v1/chat`, { method: "POST", body: "once" });
    expect(await response.json()).toMatchObject({ service: "llm", body: "once" });
    expect(wallet.orders).toHaveLength(1);
    // The unpaid probe, then three tries with the same credential.
    const sent = gateway.requests.map((request) => request.authorization);
    expect(sent).toHaveLength(4);
    expect(new Set(sent.slice(1)).size).toBe(1);
    expect(events.filter((type) => type === "paid_retry")).toHaveLength(2);
    expect(await l402.refusals()).toEqual([]);
  });

  it("a server that takes the payment and never answers gets one payment, then none during the cool-off", async () => {
    let now = new Date("2026-12-01T00:00:00Z");
    const store = new MemoryStore();
    const drain = (options: Partial<L402ClientOptions> = {}) =>
      client({ store, fetch: resetting(Number.POSITIVE_INFINITY), now: () => now, ...options });
    const lost = await expectCode(drain().fetch(`${ORIGIN}/v1/chat`), "paid_not_served");
    expect(lost.quote).toMatchObject({ amountSats: 50, scheme: "l402" });
    expect(lost.message).toMatch(/token is kept/);
    expect(lost.message).toMatch(/2026-12-02T00:00:00\.000Z.*l402 refusals clear/);
    // Without the kept token every call meets a 402, and paying it is refused before the wallet is asked.
    await drain().removeTokens();
    for (const path of ["/v1/chat", "/weather/x", "/v1/a", "/weather/b"]) {
      const refused = await expectCode(drain().fetch(`${ORIGIN}${path}`), "origin_refused_token");
      expect(refused.message).toMatch(/did not answer the paid request.*until 2026-12-02T00:00:00\.000Z/);
    }
    expect(wallet.orders).toHaveLength(1);
    expect(await drain().refusals()).toMatchObject([
      { origin: ORIGIN, reason: "unserved", paid: "l402", active: true },
    ]);
    // A restarted client on the same store remembers; past the cool-off the origin may be paid again.
    now = new Date("2026-12-02T00:00:01Z");
    await expectCode(drain().fetch(`${ORIGIN}/weather/x`), "paid_not_served");
    expect(wallet.orders).toHaveLength(2);
    // The owner's word clears it at once, also with a shorter cool-off configured.
    const owner = drain({ refusalCoolOffMs: 60_000 });
    expect(await owner.clearRefusals({ origin: ORIGIN })).toBe(1);
    expect(await owner.refusals()).toEqual([]);
  });

  it("the token of an unserved payment, served later, clears the origin's record", async () => {
    const store = new MemoryStore();
    await expectCode(client({ store, fetch: resetting(3) }).fetch(`${ORIGIN}/v1/chat`), "paid_not_served");
    expect((await store.read()).refusals).toHaveLength(1);
    // The next call presents the kept token: served, nothing paid, the record gone.
    expect((await client({ store }).fetch(`${ORIGIN}/v1/chat`)).status).toBe(200);
    expect(wallet.orders).toHaveLength(1);
    expect((await store.read()).refusals).toEqual([]);
  });

  it("a 5xx to the paid credential is returned, and the origin is not paid again during the cool-off", async () => {
    const store = new MemoryStore();
    const failing = async (request: Request) =>
      request.headers.has("authorization") ? new Response("upstream down", { status: 502 }) : gateway.fetch(request);
    expect((await client({ store, fetch: failing }).fetch(`${ORIGIN}/v1/chat`)).status).toBe(502);
    await client({ store }).removeTokens();
    await expectCode(client({ store, fetch: failing }).fetch(`${ORIGIN}/v1/chat`), "origin_refused_token");
    expect(wallet.orders).toHaveLength(1);
  });
});

describe("pending payments", () => {
  it("a crash after the payment left does not pay again: the next client resolves it through the wallet", async () => {
    const store = new FileStore(tempStorePath());
    wallet.mode = "crash-after-paying";
    await expectCode(client({ store }).fetch(`${ORIGIN}/v1/chat`), "payment_timeout");
    expect((await store.read()).receipts).toMatchObject([{ status: "pending" }]);
    wallet.mode = "ok";
    const restarted = client({ store: new FileStore(store.path) });
    const response = await restarted.fetch(`${ORIGIN}/v1/chat`);
    expect(response.status).toBe(200);
    expect(wallet.orders).toHaveLength(1);
    expect(await restarted.receipts()).toMatchObject([{ status: "succeeded", amountSats: 50 }]);
  });

  it("a payment still hanging in another client blocks a second payment to that origin, whatever the service", async () => {
    const store = new MemoryStore();
    wallet.mode = "hang";
    void client({ store }).fetch(`${ORIGIN}/v1/chat`);
    await expect.poll(async () => (await store.read()).receipts.length).toBe(1);
    // LND would report it in flight; the fake reports what it knows: nothing yet, and the owner (us) is alive.
    wallet.lookupPayment = async () => ({ status: "pending" });
    wallet.mode = "ok";
    await expectCode(client({ store }).fetch(`${ORIGIN}/v1/chat`), "payment_pending");
    await expectCode(client({ store }).fetch(`${ORIGIN}/weather/x`), "payment_pending");
    expect(wallet.orders).toHaveLength(1);
    // Another origin is not blocked, up to maxPendingPayments in all.
    const other = new FakeGateway(lightning, [{ name: "llm", prefix: "/v1/", priceSats: 50 }]);
    expect((await client({ store, fetch: other.fetch }).fetch("https://other.test/v1/chat")).status).toBe(200);
    await expectCode(
      client({ store, fetch: other.fetch, maxPendingPayments: 1 }).fetch("https://third.test/v1/chat"),
      "too_many_pending",
    );
    expect(wallet.orders).toHaveLength(2);
  });

  it("a payment never sent by a stopped process is resolved as failed", async () => {
    const store = new MemoryStore();
    wallet.mode = "timeout";
    await expectCode(client({ store }).fetch(`${ORIGIN}/v1/chat`), "payment_timeout");
    wallet.mode = "ok";
    expect(await client({ store }).resolvePending()).toEqual([]);
    expect(await client({ store }).receipts()).toMatchObject([{ status: "failed" }]);
  });
});

describe("the file store", () => {
  it("creates its file with mode 0600 in a 0700 directory and survives a new instance", async () => {
    const path = tempStorePath();
    const l402 = client({ store: new FileStore(path) });
    await l402.fetch(`${ORIGIN}/v1/chat`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, "..")).mode & 0o777).toBe(0o700);
    const again = client({ store: new FileStore(path) });
    expect(await again.tokens()).toHaveLength(1);
    await again.fetch(`${ORIGIN}/v1/chat`);
    expect(wallet.orders).toHaveLength(1);
  });
});
