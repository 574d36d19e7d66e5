import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { createServer, type Server } from "node:net";
import pino from "pino";
import { request as undiciRequest } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CreatedInvoice,
  type InvoiceBackend,
  LightningUnavailableError,
} from "../../gateway/src/lightning/invoices.js";
import { type RunningGateway, startGateway } from "../../gateway/src/server.js";
import { offlineGatewayConfig } from "../../gateway/src/test-support/offline-config.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";

/** Invoices without a node: enough to test the HTTP behaviour. Payments are proven on regtest in test/. */
class FakeInvoices implements InvoiceBackend {
  down = false;
  broken = false;
  created: CreatedInvoice[] = [];
  async createInvoice(args: { sats: number; expirySeconds: number }): Promise<CreatedInvoice> {
    if (this.down) throw new LightningUnavailableError("connection refused");
    if (this.broken) throw new TypeError("a bug, not an outage");
    const invoice = {
      paymentHash: randomBytes(32).toString("hex"),
      request: `lnbcrt${args.sats}fake${this.created.length}`,
      expiresAt: new Date(Date.now() + args.expirySeconds * 1000),
    };
    this.created.push(invoice);
    return invoice;
  }
  async lookupSettlement() {
    return undefined;
  }
  subscribeSettlements() {
    return () => {};
  }
  async ping() {
    if (this.down) throw new LightningUnavailableError("connection refused");
  }
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

/** Raw HTTP, for what fetch would normalise away (duplicate headers). */
function rawGet(
  url: string,
  headers: [string, string][],
): Promise<{ status: number; body: string; keepAlive: string | undefined }> {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(url, { method: "GET" });
    for (const [name, value] of headers) req.appendHeader(name, value);
    req.on("response", (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on("end", () =>
        resolvePromise({ status: res.statusCode ?? 0, body, keepAlive: res.headers["keep-alive"]?.toString() }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("gateway HTTP behaviour (invoices faked)", () => {
  let upstream: TestUpstream;
  let silent: Server;
  let gateway: RunningGateway;
  const invoices = new FakeInvoices();

  beforeAll(async () => {
    upstream = await startUpstream();
    // Accepts connections and never answers: an upstream that hangs.
    silent = createServer(() => {});
    await new Promise<void>((done) => silent.listen(0, "127.0.0.1", done));
    const silentPort = (silent.address() as { port: number }).port;
    const config = offlineGatewayConfig({
      proxy: { connectTimeoutMs: 1_000, idleTimeoutMs: 500 },
      limits: { maxHeaderBytes: 4_096, maxBodyBytes: 1_000, challengeBurst: 8, challengesPerMinute: 1 },
      services: [
        {
          name: "llm",
          match: { pathPrefix: "/v1/" },
          upstream: upstream.url,
          price: { sats: 21 },
          freePaths: ["/v1/echo"],
        },
        {
          name: "dead",
          match: { pathPrefix: "/dead/" },
          upstream: `http://127.0.0.1:${await closedPort()}`,
          price: { sats: 1 },
          freePaths: ["/dead/*"],
        },
        {
          name: "slow",
          match: { pathPrefix: "/slow/" },
          upstream: `http://127.0.0.1:${silentPort}`,
          price: { sats: 1 },
          freePaths: ["/slow/*"],
        },
      ],
    });
    gateway = await startGateway(config, { backend: invoices, log: pino({ level: "silent" }) });
  });

  afterAll(async () => {
    await gateway.close();
    await upstream.close();
    silent.close();
  });

  it("answers 404 JSON for a path no service serves", async () => {
    const res = await fetch(`${gateway.url}/nothing`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: "not_found", message: "no service is configured for GET /nothing" });
  });

  it("tells keep-alive clients it holds idle connections for 65 s, past Node's 5 s default", async () => {
    const answer = await rawGet(`${gateway.url}/nothing`, [["connection", "keep-alive"]]);
    expect(answer.status).toBe(404);
    expect(answer.keepAlive).toBe("timeout=65");
  });

  it("proxies a free path with forwarding headers, without the credential or hop-by-hop headers", async () => {
    const res = await fetch(`${gateway.url}/v1/echo?q=1`, {
      method: "POST",
      headers: { authorization: "L402 abc:def", "x-custom": "kept", "content-type": "text/plain" },
      body: "hello",
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-private-hop")).toBeNull();
    const seen = (await res.json()) as { url: string; body: string; headers: Record<string, string> };
    expect(seen.url).toBe("/v1/echo?q=1");
    expect(seen.body).toBe("hello");
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers["x-custom"]).toBe("kept");
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
    expect(seen.headers["x-forwarded-host"]).toBe(new URL(gateway.url).host);
  });

  it("challenges an unpaid request with both WWW-Authenticate headers, LSAT first", async () => {
    const res = await fetch(`${gateway.url}/v1/stream`);
    expect(res.status).toBe(402);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const challenges = rawChallenges(res);
    expect(challenges[0]).toMatch(
      /^LSAT macaroon="[A-Za-z0-9+/]+={0,2}", invoice="lnbcrt21fake\d+", version="0", token="[A-Za-z0-9+/]+={0,2}"$/,
    );
    expect(challenges[1]).toMatch(
      /^L402 macaroon="[A-Za-z0-9+/]+={0,2}", invoice="lnbcrt21fake\d+", version="0", token=/,
    );
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: "missing", price_sats: 21 });
    expect(body.invoice).toBe(invoices.created.at(-1)?.request);
    expect(body.payment_hash).toBe(invoices.created.at(-1)?.paymentHash);
    expect(typeof body.macaroon).toBe("string");
    expect(Date.parse(String(body.expires_at))).toBeGreaterThan(Date.now());
  });

  it.each([
    ["an L402 credential without a preimage", [["authorization", "L402 AgEEbHNhdA=="]]],
    ["a preimage that is not hex", [["authorization", `L402 AgEE:${"z".repeat(64)}`]]],
    [
      "two Authorization headers with different credentials",
      [
        ["authorization", `L402 AgEEbHNhdA==:${"0".repeat(64)}`],
        ["authorization", `L402 AgEEbHNhdB==:${"0".repeat(64)}`],
      ],
    ],
  ] as [string, [string, string][]][])("refuses %s with a fresh 402 and code malformed", async (_what, headers) => {
    const res = await rawGet(`${gateway.url}/v1/stream`, headers);
    expect(res.status).toBe(402);
    expect(JSON.parse(res.body).code).toBe("malformed");
  });

  it("treats a credential of another scheme as no credential", async () => {
    const res = await rawGet(`${gateway.url}/v1/stream`, [["authorization", "Bearer sk-123"]]);
    expect(res.status).toBe(402);
    expect(JSON.parse(res.body).code).toBe("missing");
  });

  it("refuses a declared body over the limit with 413", async () => {
    const res = await fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "x".repeat(1_001) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: "body_too_large" });
  });

  it("refuses a streamed body over the limit with 413", async () => {
    const body = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(new TextEncoder().encode("y".repeat(300)));
        controller.close();
      },
    });
    const res = await fetch(`${gateway.url}/v1/echo`, { method: "POST", body, duplex: "half" } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: "body_too_large" });
  });

  it("refuses oversized headers with 431 JSON", async () => {
    const res = await rawGet(`${gateway.url}/v1/echo`, [["x-big", "b".repeat(5_000)]]);
    expect(res.status).toBe(431);
    expect(JSON.parse(res.body)).toMatchObject({ code: "headers_too_large" });
  });

  it("answers 502 when the upstream is down and 504 when it hangs", async () => {
    const down = await fetch(`${gateway.url}/dead/x`);
    expect(down.status).toBe(502);
    expect(await down.json()).toMatchObject({ code: "upstream_unreachable" });
    const hung = await fetch(`${gateway.url}/slow/x`);
    expect(hung.status).toBe(504);
    expect(await hung.json()).toMatchObject({ code: "upstream_timeout" });
  });

  it("answers 503 for a new challenge while the Lightning node is down", async () => {
    invoices.down = true;
    try {
      const res = await fetch(`${gateway.url}/v1/stream`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: "lightning_unavailable" });
    } finally {
      invoices.down = false;
    }
  });

  it("propagates the caller's X-Request-Id upstream and back, and replaces an unsafe one", async () => {
    const res = await fetch(`${gateway.url}/v1/echo`, { headers: { "x-request-id": "trace-42:a.b" } });
    expect(res.headers.get("x-request-id")).toBe("trace-42:a.b");
    expect(((await res.json()) as { headers: Record<string, string> }).headers["x-request-id"]).toBe("trace-42:a.b");
    const unsafe = await fetch(`${gateway.url}/v1/echo`, { headers: { "x-request-id": "a b<script>" } });
    expect(unsafe.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const none = await fetch(`${gateway.url}/nothing`);
    expect(none.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    // Every kind of answer carries it once: a challenge, the gateway's own endpoint, a streamed proxied answer.
    for (const path of ["/v1/stream", "/healthz"]) {
      const res = await fetch(`${gateway.url}${path}`, { headers: { "x-request-id": `id-${path.length}` } });
      await res.arrayBuffer();
      expect(res.headers.get("x-request-id")).toBe(`id-${path.length}`);
    }
    const raw = await undiciRequest(`${gateway.url}/v1/echo`, { headers: { "x-request-id": "once" } });
    await raw.body.arrayBuffer();
    expect(raw.headers["x-request-id"]).toBe("once");
  });

  // Each /readyz waits out its 2 s probe of the hung "slow" upstream: twice that is close to the 5 s default.
  it("is live on /healthz, and ready on /readyz while LND, the store and one upstream answer", {
    timeout: 15_000,
  }, async () => {
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gateway.operatorUrl}/readyz`);
    expect(ready.status).toBe(200);
    const report = (await ready.json()) as {
      ready: boolean;
      checks: { upstreams: Record<string, { ok: boolean; error?: string }> };
    };
    expect(report.ready).toBe(true);
    expect(report.checks.upstreams.llm?.ok).toBe(true);
    expect(report.checks.upstreams.dead?.ok).toBe(false);
    expect(report.checks.upstreams.slow).toEqual({ ok: false, error: "/health did not answer within 2000 ms" });
    invoices.down = true;
    try {
      const notReady = await fetch(`${gateway.url}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toMatchObject({
        ready: false,
        checks: { lnd: { ok: false, error: "connection refused" }, store: { ok: true } },
      });
    } finally {
      invoices.down = false;
    }
  });

  it("exports bounded, secret-free metrics on the operator port only", async () => {
    expect((await fetch(`${gateway.url}/metrics`)).status).toBe(404);
    const res = await fetch(`${gateway.operatorUrl}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(metricValue(text, "l402_challenges_issued_total", { service: "llm" })).toBeGreaterThanOrEqual(1);
    expect(
      metricValue(text, "l402_auth_failures_total", { service: "llm", reason: "malformed" }),
    ).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, "l402_upstream_errors_total", { service: "dead", class: "unreachable" })).toBe(1);
    expect(metricValue(text, "l402_upstream_errors_total", { service: "slow", class: "timeout" })).toBe(1);
    expect(metricValue(text, "l402_lnd_call_errors_total", { method: "create_invoice" })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, "l402_price_sats", { service: "llm" })).toBe(21);
    expect(metricValue(text, "l402_surge_multiplier", { service: "llm" })).toBe(1);
    expect(metricValue(text, "l402_request_duration_seconds_count", { service: "llm", phase: "auth" })).toBeGreaterThan(
      0,
    );
    expect(
      metricValue(text, "l402_request_duration_seconds_count", { service: "llm", phase: "pricing" }),
    ).toBeGreaterThan(0);
    expect(
      metricValue(text, "l402_request_duration_seconds_count", { service: "llm", phase: "upstream_ttfb" }),
    ).toBeGreaterThan(0);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    for (const invoice of invoices.created) {
      expect(text).not.toContain(invoice.paymentHash);
      expect(text).not.toContain(invoice.request);
    }
    expect(text).not.toContain("127.0.0.1");
    expect(text).not.toMatch(/path="/);
  });

  it("answers an unexpected internal failure with JSON 500, not an HTML page", async () => {
    invoices.broken = true;
    try {
      const res = await fetch(`${gateway.url}/v1/stream`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({
        code: "internal_error",
        message: "the gateway could not handle this request",
      });
    } finally {
      invoices.broken = false;
    }
  });

  it("limits challenges per client with 429 and Retry-After", async () => {
    let res: Response | undefined;
    for (let i = 0; i < 10 && res?.status !== 429; i++) res = await fetch(`${gateway.url}/v1/stream`);
    expect(res?.status).toBe(429);
    expect(Number(res?.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await res?.json()).toMatchObject({ code: "rate_limited" });
  });
});

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line === undefined ? Number.NaN : Number(line.split(" ").at(-1));
}

function rawChallenges(res: Response): string[] {
  // fetch joins repeated headers with ", "; split where a new scheme starts.
  return (res.headers.get("www-authenticate") ?? "").split(/, (?=(?:LSAT|L402) )/);
}
