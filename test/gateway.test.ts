import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type GatewayConfig, parseConfig, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import { addFirstPartyCaveats, formatAuthorization, parseChallenge } from "@l402-gateway/l402";
import { pay } from "lightning";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { NodeControl } from "./regtest/control.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";
import { REPO_ROOT } from "./regtest/paths.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const run = promisify(execFile);
const network = testNetwork();
const bob = lndClient(network.nodes.bob);
const silent = pino({ level: "silent" });

interface Paid {
  readonly macaroon: string;
  readonly preimage: string;
  readonly priceSats: number;
}

function gatewayConfig(upstream: string, storePath: string, overrides: Record<string, unknown> = {}): GatewayConfig {
  return parseConfig({
    listen: { port: 0 },
    operator: { port: 0 },
    lnd: gatewayLndConfig(network.nodes.alice),
    store: { path: storePath },
    log: { level: "silent" },
    services: [
      {
        name: "llm",
        match: { pathPrefix: "/v1/" },
        upstream,
        price: { sats: 50 },
        capabilities: ["chat", "completions"],
        capabilityRules: [
          { pathPrefix: "/v1/chat/", capability: "chat" },
          { pathPrefix: "/v1/completions", capability: "completions" },
        ],
      },
      { name: "weather", match: { pathPrefix: "/weather/" }, upstream, price: { sats: 5 } },
    ],
    ...overrides,
  });
}

/** Asks for a resource unpaid, checks the 402, and pays its invoice from bob's node. */
async function buyToken(gatewayUrl: string, path: string): Promise<Paid> {
  const challenge = await fetch(`${gatewayUrl}${path}`);
  expect(challenge.status).toBe(402);
  const parsed = parseChallenge(challenge.headers.get("www-authenticate") ?? "");
  const body = (await challenge.json()) as {
    macaroon: string;
    invoice: string;
    price_sats: number;
    payment_hash: string;
  };
  expect(parsed.macaroon).toBe(body.macaroon);
  expect(parsed.invoice).toBe(body.invoice);
  const payment = await pay({ lnd: bob, request: body.invoice });
  expect(createHash("sha256").update(Buffer.from(payment.secret, "hex")).digest("hex")).toBe(body.payment_hash);
  return { macaroon: body.macaroon, preimage: payment.secret, priceSats: body.price_sats };
}

function authHeader(token: { macaroon: string; preimage: string }): { authorization: string } {
  return {
    authorization: formatAuthorization({ macaroons: [token.macaroon], preimage: Buffer.from(token.preimage, "hex") }),
  };
}

async function refusal(url: string, headers: Record<string, string>): Promise<string> {
  const res = await fetch(url, { headers });
  expect(res.status).toBe(402);
  expect(res.headers.get("www-authenticate")).toMatch(/^LSAT macaroon=/);
  return ((await res.json()) as { code: string }).code;
}

describe("the paying gateway on regtest", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  let storePath: string;
  let token: Paid;

  beforeAll(async () => {
    upstream = await startUpstream();
    storePath = join(mkdtempSync(join(tmpdir(), "gw-regtest-")), "gateway.sqlite");
    gateway = await startGateway(gatewayConfig(upstream.url, storePath), { log: silent });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("402 → bob pays → the retried request is proxied and streamed", async () => {
    token = await buyToken(gateway.url, "/v1/stream");
    const res = await fetch(`${gateway.url}/v1/stream`, { headers: authHeader(token) });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    // The upstream holds events 2 and 3 until released: event 1 can only arrive here if the gateway streams.
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: {"chunk":1}\n\n');
    upstream.release();
    upstream.release();
    let rest = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      rest += new TextDecoder().decode(chunk.value);
    expect(rest).toBe('data: {"chunk":2}\n\ndata: {"chunk":3}\n\ndata: [DONE]\n\n');
    // The credential stays at the gateway.
    expect(upstream.seen.at(-1)?.headers.authorization).toBeUndefined();
  });

  it("the same token serves a second call without a second payment", async () => {
    const before = (await gateway.store.listTokens()).length;
    const res = await fetch(`${gateway.url}/v1/echo`, { method: "POST", headers: authHeader(token), body: "again" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { body: string }).body).toBe("again");
    expect((await gateway.store.listTokens()).length).toBe(before);
    await expect.poll(async () => (await gateway.store.listTokens({ status: "paid" })).length).toBeGreaterThan(0);
  });

  it("refuses a wrong preimage", async () => {
    const code = await refusal(
      `${gateway.url}/v1/echo`,
      authHeader({ ...token, preimage: randomBytes(32).toString("hex") }),
    );
    expect(code).toBe("wrong_preimage");
  });

  it("refuses a tampered macaroon", async () => {
    const bytes = Buffer.from(token.macaroon, "base64");
    // The signature is the last 32 bytes before the end-of-macaroon marker.
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0x01;
    expect(await refusal(`${gateway.url}/v1/echo`, authHeader({ ...token, macaroon: bytes.toString("base64") }))).toBe(
      "bad_signature",
    );
  });

  it("refuses a token for another service", async () => {
    expect(await refusal(`${gateway.url}/weather/paris`, authHeader(token))).toBe("wrong_service");
  });

  it("refuses a request for a capability the token was narrowed away from", async () => {
    const chatOnly = addFirstPartyCaveats(token.macaroon, ["llm_capabilities=chat"]);
    const ok = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: authHeader({ ...token, macaroon: chatOnly }),
    });
    expect(ok.status).toBe(200);
    expect(await refusal(`${gateway.url}/v1/completions`, authHeader({ ...token, macaroon: chatOnly }))).toBe(
      "missing_capability",
    );
  });

  it("refuses an expired token", async () => {
    const past = Math.floor(Date.now() / 1000) - 10;
    const expired = addFirstPartyCaveats(token.macaroon, [`llm_valid_until=${past}`]);
    expect(await refusal(`${gateway.url}/v1/echo`, authHeader({ ...token, macaroon: expired }))).toBe("expired");
  });

  it("refuses a token revoked with the CLI, at once and after a restart", async () => {
    const victim = await buyToken(gateway.url, "/v1/echo");
    expect((await fetch(`${gateway.url}/v1/echo`, { headers: authHeader(victim) })).status).toBe(200);
    const configFile = join(mkdtempSync(join(tmpdir(), "gw-cli-")), "gateway.yaml");
    writeFileSync(
      configFile,
      `lnd: { socket: "127.0.0.1:1", cert: x, macaroon: x }\nstore: { path: ${JSON.stringify(storePath)} }\n` +
        `services: [{ name: llm, match: { pathPrefix: /v1/ }, upstream: "http://127.0.0.1:1", price: { sats: 1 } }]\n`,
    );
    const cli = join(REPO_ROOT, "gateway", "dist", "cli.js");
    const listed = await run(process.execPath, [cli, "tokens", "list", "--status", "paid", "--config", configFile]);
    const tokenId = (JSON.parse(listed.stdout) as { token_id: string; payment_hash: string }[]).find(
      (t) => createHash("sha256").update(Buffer.from(victim.preimage, "hex")).digest("hex") === t.payment_hash,
    )?.token_id;
    expect(tokenId).toMatch(/^[0-9a-f]{64}$/);
    const revoked = await run(process.execPath, [cli, "tokens", "revoke", tokenId ?? "", "--config", configFile]);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ token_id: tokenId, status: "revoked" });

    expect(await refusal(`${gateway.url}/v1/echo`, authHeader(victim))).toBe("revoked");
    await gateway.close();
    gateway = await startGateway(gatewayConfig(upstream.url, storePath), { log: silent });
    expect(await refusal(`${gateway.url}/v1/echo`, authHeader(victim))).toBe("revoked");
    expect((await fetch(`${gateway.url}/v1/echo`, { headers: authHeader(token) })).status).toBe(200);
  });

  it("answers 502 when the upstream is down", async () => {
    const down = await startGateway(gatewayConfig("http://127.0.0.1:9", storePath), { log: silent });
    try {
      const res = await fetch(`${down.url}/v1/echo`, { headers: authHeader(token) });
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ code: "upstream_unreachable" });
    } finally {
      await down.close();
    }
  });

  it("limits challenges per client with 429", async () => {
    const limited = await startGateway(
      gatewayConfig(upstream.url, join(mkdtempSync(join(tmpdir(), "gw-rl-")), "g.sqlite"), {
        limits: { challengeBurst: 2, challengesPerMinute: 1 },
      }),
      { log: silent },
    );
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${limited.url}/v1/echo`)).status);
      expect(statuses).toEqual([402, 402, 429]);
    } finally {
      await limited.close();
    }
  });

  it("sees a settlement made while the gateway was down after it restarts", async () => {
    const challenge = await fetch(`${gateway.url}/v1/echo`);
    const body = (await challenge.json()) as { invoice: string; payment_hash: string };
    await gateway.close();
    await pay({ lnd: bob, request: body.invoice });
    gateway = await startGateway(gatewayConfig(upstream.url, storePath), { log: silent });
    await expect
      .poll(async () =>
        (await gateway.store.listTokens({ status: "paid" })).some((t) => t.paymentHash === body.payment_hash),
      )
      .toBe(true);
  });

  it("answers 503 for new challenges while LND is stopped, and a paid token still gets 200", async () => {
    const alice = new NodeControl(network, "alice");
    await alice.stop();
    try {
      const challenge = await fetch(`${gateway.url}/v1/echo`);
      expect(challenge.status).toBe(503);
      expect(await challenge.json()).toMatchObject({ code: "lightning_unavailable" });
      expect((await fetch(`${gateway.url}/v1/echo`, { headers: authHeader(token) })).status).toBe(200);
    } finally {
      await alice.start();
    }
    const fresh = await buyToken(gateway.url, "/v1/echo");
    expect((await fetch(`${gateway.url}/v1/echo`, { headers: authHeader(fresh) })).status).toBe(200);
  });
});
