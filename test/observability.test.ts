import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { parseConfig, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import { DEFAULT_MODEL, type RunningServer, startServer } from "@l402-gateway/llm-backend";
import { pay } from "lightning";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";
import { REPO_ROOT } from "./regtest/paths.js";
import { type PrometheusServer, promtool, startPrometheus } from "./support/prometheus.js";

const network = testNetwork();
const bob = lndClient(network.nodes.bob);
const PRICE_SATS = 7;
const TOKENS_BOUGHT = 3;
const CALLS_PER_TOKEN = 2;
const MODEL = DEFAULT_MODEL.fileName.replace(/\.gguf$/, "");

describe("operators see money and load in a real Prometheus", () => {
  let backend: RunningServer;
  let gateway: RunningGateway;
  let prometheus: PrometheusServer;
  let logs = "";
  const secrets: string[] = [network.nodes.alice.invoiceMacaroon, network.nodes.alice.cert];
  const usage = { prompt: 0, completion: 0, calls: 0 };

  beforeAll(async () => {
    backend = await startServer(
      { gpu: "false", port: 0, host: "127.0.0.1", parallel: 2, contextSize: 512, logLevel: "warn" },
      { waitUntilReady: true },
    );
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs += chunk.toString();
        done();
      },
    });
    gateway = await startGateway(
      parseConfig({
        listen: { port: 0 },
        operator: { port: 0 },
        lnd: gatewayLndConfig(network.nodes.alice),
        store: { path: join(mkdtempSync(join(tmpdir(), "gw-obs-")), "gateway.sqlite") },
        log: { level: "debug" },
        services: [{ name: "llm", match: { pathPrefix: "/v1/" }, upstream: backend.url, price: { sats: PRICE_SATS } }],
      }),
      { log: pino({ level: "debug" }, capture) },
    );
    prometheus = await startPrometheus({
      "l402-gateway": new URL(gateway.operatorUrl).host,
      "llm-backend": new URL(backend.url).host,
    });
  });

  afterAll(async () => {
    await prometheus?.stop();
    await gateway?.close();
    await backend?.close();
  });

  it("runs a paid workload with debug logging", async () => {
    for (let i = 0; i < TOKENS_BOUGHT; i++) {
      const challenge = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST" });
      expect(challenge.status).toBe(402);
      const { macaroon, invoice } = (await challenge.json()) as { macaroon: string; invoice: string };
      const payment = await pay({ lnd: bob, request: invoice });
      secrets.push(macaroon, payment.secret);
      const authorization = formatAuthorization({
        macaroons: [macaroon],
        preimage: Buffer.from(payment.secret, "hex"),
      });
      secrets.push(authorization);
      for (let call = 0; call < CALLS_PER_TOKEN; call++) {
        const res = await fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization, "content-type": "application/json" },
          body: JSON.stringify({
            model: MODEL,
            messages: [{ role: "user", content: `Count to ${call + 2}.` }],
            max_tokens: 8,
            temperature: 0,
          }),
        });
        expect(res.status, await res.clone().text()).toBe(200);
        const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
        usage.prompt += body.usage.prompt_tokens;
        usage.completion += body.usage.completion_tokens;
        usage.calls += 1;
      }
    }
    expect(usage.calls).toBe(TOKENS_BOUGHT * CALLS_PER_TOKEN);
  });

  it("Prometheus sees revenue, paid requests and tokens equal to what was paid and used", async () => {
    const revenue = `sum(l402_revenue_sats_total{service="llm"})`;
    await expect
      .poll(() => prometheus.queryValue(revenue), { timeout: 30_000, interval: 500 })
      .toBe(TOKENS_BOUGHT * PRICE_SATS);
    const values = {
      revenue_sats: await prometheus.queryValue(revenue),
      invoices_settled: await prometheus.queryValue(`sum(l402_invoices_settled_total{service="llm"})`),
      challenges_issued: await prometheus.queryValue(`sum(l402_challenges_issued_total{service="llm"})`),
      paid_requests: await prometheus.queryValue(`sum(l402_paid_requests_total{service="llm"})`),
      active_tokens: await prometheus.queryValue("l402_tokens_active"),
      lnd_up: await prometheus.queryValue("l402_lnd_up"),
    };
    await expect
      .poll(() => prometheus.queryValue("sum(llm:generation_tokens_total)"), { timeout: 30_000, interval: 500 })
      .toBe(usage.completion);
    const backendValues = {
      prompt_tokens: await prometheus.queryValue("sum(llm:prompt_tokens_total)"),
      generation_tokens: await prometheus.queryValue("sum(llm:generation_tokens_total)"),
    };
    console.log("queried from Prometheus:", JSON.stringify({ ...values, ...backendValues, usage }));
    expect(values).toEqual({
      revenue_sats: TOKENS_BOUGHT * PRICE_SATS,
      invoices_settled: TOKENS_BOUGHT,
      challenges_issued: TOKENS_BOUGHT,
      paid_requests: TOKENS_BOUGHT * CALLS_PER_TOKEN,
      active_tokens: TOKENS_BOUGHT,
      lnd_up: 1,
    });
    expect(backendValues).toEqual({ prompt_tokens: usage.prompt, generation_tokens: usage.completion });
  });

  it("is ready on /readyz with LND, the store and the backend up", async () => {
    const res = await fetch(`${gateway.operatorUrl}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      ready: true,
      checks: { lnd: { ok: true }, store: { ok: true }, upstreams: { llm: { ok: true } } },
    });
  });

  it("no secret appears in the debug logs or the metrics", async () => {
    const metrics = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).toContain('"msg":"request"');
    const hexOf = (b64: string) => Buffer.from(b64, "base64").toString("hex");
    for (const secret of secrets) {
      for (const form of [secret, /^[0-9a-f]+$/.test(secret) ? secret : hexOf(secret)]) {
        expect(logs.includes(form), `a secret leaked into the logs`).toBe(false);
        expect(metrics.includes(form), `a secret leaked into the metrics`).toBe(false);
      }
    }
  });

  it("the shipped alert rules and scrape config load", async () => {
    expect(await promtool("check", "rules", join(REPO_ROOT, "deploy/prometheus/alerts.yml"))).toContain(
      "SUCCESS: 4 rules found",
    );
    expect(await promtool("check", "config", join(REPO_ROOT, "deploy/prometheus/prometheus.yml"))).toContain("SUCCESS");
  });
});
