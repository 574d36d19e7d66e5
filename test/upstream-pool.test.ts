import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import { DEFAULT_MODEL, type RunningServer, startServer } from "@l402-gateway/llm-backend";
import { pay } from "lightning";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";

const network = testNetwork();
const bob = lndClient(network.nodes.bob);
const MODEL = DEFAULT_MODEL.fileName.replace(/\.gguf$/, "");
const RATES = { promptMsatPerToken: 20, completionMsatPerToken: 50 };

interface Credential {
  readonly macaroon: string;
  readonly preimage: string;
}

interface Balance {
  balance_msat: number;
  reserved_msat: number;
  charged_msat: number;
  credited_msat: number;
  requests: number;
}

const authorization = (c: Credential) => ({
  authorization: formatAuthorization({ macaroons: [c.macaroon], preimage: Buffer.from(c.preimage, "hex") }),
});

const chat = (content: string, maxTokens: number) =>
  JSON.stringify({ model: MODEL, messages: [{ role: "user", content }], temperature: 0, max_tokens: maxTokens });

/** Completions a backend has finished, from its own metrics. */
async function completed(backend: RunningServer): Promise<number> {
  const text = await (await fetch(`${backend.url}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("llm:request_success_total{"))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}

async function metricSum(gateway: RunningGateway, prefix: string): Promise<number> {
  const text = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(prefix))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}

describe("one gateway, two llm-backend upstreams (regtest, real model)", () => {
  let first: RunningServer;
  let second: RunningServer;
  let gateway: RunningGateway;
  let token: Credential;

  beforeAll(async () => {
    const backendConfig = {
      gpu: "false",
      port: 0,
      host: "127.0.0.1",
      parallel: 2,
      contextSize: 1024,
      logLevel: "warn",
      threads: 1,
    } as const;
    [first, second] = await Promise.all([
      startServer(backendConfig, { waitUntilReady: true }),
      startServer(backendConfig, { waitUntilReady: true }),
    ]);
    const config = parseConfig({
      listen: { port: 0 },
      operator: { port: 0 },
      lnd: gatewayLndConfig(network.nodes.alice),
      store: { path: join(mkdtempSync(join(tmpdir(), "gw-pool-")), "gateway.sqlite") },
      log: { level: "silent" },
      limits: { challengeBurst: 1_000, challengesPerMinute: 1_000 },
      services: [
        {
          name: "llm",
          match: { pathPrefix: "/v1/" },
          upstreams: [first.url, second.url],
          upstreamPool: { healthIntervalMs: 200 },
          pricing: {
            rules: [{ pathPrefix: "/v1/", tokens: RATES }],
            defaultMaxTokens: 32,
            deposit: { minMsat: 1_000, maxMsat: 2_000_000 },
          },
        },
      ],
    });
    gateway = await startGateway(config, { log: pino({ level: "silent" }) });
    const challenge = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-l402-deposit-msat": "1000000" },
      body: chat("hi", 8),
    });
    expect(challenge.status).toBe(402);
    const body = (await challenge.json()) as { macaroon: string; invoice: string };
    const payment = await pay({ lnd: bob, request: body.invoice });
    token = { macaroon: body.macaroon, preimage: payment.secret };
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([first?.close(), second?.close()]);
  });

  const ask = (content: string, maxTokens: number) =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...authorization(token) },
      body: chat(content, maxTokens),
    });

  async function balance(): Promise<Balance> {
    await expect
      .poll(
        async () =>
          ((await (await fetch(`${gateway.url}/l402/balance`, { headers: authorization(token) })).json()) as Balance)
            .reserved_msat,
        { timeout: 15_000 },
      )
      .toBe(0);
    return (await (await fetch(`${gateway.url}/l402/balance`, { headers: authorization(token) })).json()) as Balance;
  }

  it("spreads concurrent requests over both backends", async () => {
    const before = [await completed(first), await completed(second)];
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => ask(`Count to ${i + 2}.`, 12)));
    expect(answers.map((r) => r.status)).toEqual(Array(8).fill(200));
    await Promise.all(answers.map((r) => r.text()));
    const byFirst = (await completed(first)) - (before[0] ?? 0);
    const bySecond = (await completed(second)) - (before[1] ?? 0);
    expect(byFirst + bySecond).toBe(8);
    expect(byFirst).toBeGreaterThan(0);
    expect(bySecond).toBeGreaterThan(0);
  });

  it("loses no paid request when a backend dies mid-run, and charges each once, for the attempt that served it", async () => {
    const before = await balance();
    const failedBefore = await metricSum(gateway, 'l402_metered_requests_total{service="llm",outcome="failed"}');
    const count = 8;
    const pending = Array.from({ length: count }, (_, i) => ask(`Tell a story about the number ${i}.`, 48));
    // Kill the second backend while it is generating answers whose headers have not gone out (not streamed).
    await expect
      .poll(
        async () => ((await (await fetch(`${second.url}/health`)).json()) as { busy_sequences: number }).busy_sequences,
        {
          timeout: 30_000,
          interval: 20,
        },
      )
      .toBeGreaterThan(0);
    await second.close();
    const answers = await Promise.all(pending);
    const bodies = await Promise.all(answers.map((r) => r.text()));
    // A refusal shows its body (its code says which stage refused).
    expect(answers.map((r, i) => (r.status === 200 ? 200 : `${r.status} ${bodies[i]}`))).toEqual(
      Array(count).fill(200),
    );
    const costs = answers.map((r) => Number(r.headers.get("x-l402-cost-msat")));
    const after = await balance();
    expect(after.requests - before.requests).toBe(count);
    expect(after.charged_msat - before.charged_msat).toBe(costs.reduce((a, b) => a + b, 0));
    expect(costs.every((cost) => cost > 0)).toBe(true);
    expect(after.balance_msat + after.charged_msat).toBe(after.credited_msat);
    // No attempt was settled as failed: the retried ones were never charged at all.
    expect(await metricSum(gateway, 'l402_metered_requests_total{service="llm",outcome="failed"}')).toBe(failedBefore);
    expect(await metricSum(gateway, 'l402_upstream_errors_total{service="llm",class="unreachable"}')).toBeGreaterThan(
      0,
    );
  });
});
