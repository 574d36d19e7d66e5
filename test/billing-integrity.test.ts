import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import { DEFAULT_MODEL, type RunningServer, startServer } from "@l402-gateway/llm-backend";
import fc from "fast-check";
import { pay } from "lightning";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { lndClient } from "./regtest/network-file.js";
import { settledAccountOf } from "./support/account.js";
import { checkAccounting } from "./support/accounting.js";
import { checkProperty } from "./support/fuzz-seed.js";
import { startRegtestGateway } from "./support/regtest-gateway.js";
import { type RequestShape, renderShape, shapeArbitrary } from "./support/request-shapes.js";
import { tokenMeteredLlm } from "./support/services.js";

const network = testNetwork();
const alice = lndClient(network.nodes.alice);
const bob = lndClient(network.nodes.bob);
const MODEL = DEFAULT_MODEL.fileName.replace(/\.gguf$/, "");
const RATES = { prompt: 2, completion: 5, fee: 7 };
const DEFAULT_MAX_TOKENS = 6;
const MAX_TOKENS_CAP = 12;
const priceOf = (prompt: number, completion: number) =>
  prompt * RATES.prompt + completion * RATES.completion + RATES.fee;

/**
 * Billing integrity against the real model and real Lightning: every spelling of a request is priced as the
 * backend will serve it, and the backend's own token counters are the ground truth of what it did.
 */
describe("billing integrity (regtest, real model)", () => {
  let backend: RunningServer;
  let gateway: RunningGateway;
  const storePath = join(mkdtempSync(join(tmpdir(), "gw-billing-")), "gateway.sqlite");
  let authorization = "";
  /** Calls the backend generated for and the gateway answered (each must carry a charge). */
  let answered = 0;

  beforeAll(async () => {
    backend = await startServer(
      { gpu: "false", port: 0, host: "127.0.0.1", parallel: 1, contextSize: 512, logLevel: "warn" },
      { waitUntilReady: true },
    );
    gateway = await startRegtestGateway({
      storePath,
      limits: { challengeBurst: 100, challengesPerMinute: 100 },
      services: [
        tokenMeteredLlm(backend.url, {
          rates: RATES,
          defaultMaxTokens: DEFAULT_MAX_TOKENS,
          maxTokensCap: MAX_TOKENS_CAP,
        }),
      ],
    });
    const challenge = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-l402-deposit-msat": "2000000" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(challenge.status).toBe(402);
    const body = (await challenge.json()) as { macaroon: string; invoice: string };
    const payment = await pay({ lnd: bob, request: body.invoice });
    authorization = formatAuthorization({ macaroons: [body.macaroon], preimage: Buffer.from(payment.secret, "hex") });
  });

  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
  });

  const settledAccount = () => settledAccountOf(gateway.url, authorization);

  /** What the backend itself counted: prompt tokens of admitted requests and tokens generated. */
  async function backendWork(): Promise<{ prompt: number; generated: number }> {
    const text = await (await fetch(`${backend.url}/metrics`)).text();
    const total = (name: string) =>
      text
        .split("\n")
        .filter((line) => line.startsWith(`llm:${name}{`))
        .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
    return { prompt: total("prompt_tokens_total"), generated: total("generation_tokens_total") };
  }

  /** Sends one request, settles it, and returns the charge with the work the backend did for it. */
  async function measured(
    path: string,
    init: { headers?: Record<string, string>; body: Buffer | string; disconnect?: boolean },
  ) {
    const before = await settledAccount();
    const workBefore = await backendWork();
    const abort = new AbortController();
    // A call that never ends is a failure to report, not a hang of the whole run.
    const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(120_000)]);
    const res = await fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { ...init.headers, authorization },
      body: init.body,
      signal,
    });
    const streamed = (res.headers.get("content-type") ?? "").includes("text/event-stream");
    let text = "";
    if (init.disconnect && streamed) {
      const reader = res.body?.getReader();
      await reader?.read();
      abort.abort();
      await reader?.cancel().catch(() => {});
    } else {
      text = await res.text();
    }
    const after = await settledAccount();
    // The backend ends a generation whose client left on its own schedule: wait until it has counted it.
    const busy = async () =>
      ((await (await fetch(`${backend.url}/health`)).json()) as { busy_sequences: number }).busy_sequences;
    await expect.poll(busy, { timeout: 60_000, interval: 50 }).toBe(0);
    const workAfter = await backendWork();
    return {
      status: res.status,
      text,
      streamed,
      charged: after.charged_msat - before.charged_msat,
      prompt: workAfter.prompt - workBefore.prompt,
      generated: workAfter.generated - workBefore.generated,
      invariant: after.credited_msat === after.charged_msat + after.balance_msat + after.reserved_msat,
    };
  }

  const chat = (content: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ model: MODEL, messages: [{ role: "user", content }], temperature: 0, ...extra });
  const JSON_TYPE = { "content-type": "application/json" };

  it("prices every spelling of the chat path as the chat completion the backend serves", async () => {
    for (const path of ["/V1/Chat/Completions/", "/v1//chat/./completions", "/v1/models/../chat/%63ompletions"]) {
      const call = await measured(path, { headers: JSON_TYPE, body: chat("Name a colour.", { max_tokens: 3 }) });
      expect(call.status, path).toBe(200);
      expect(call.prompt, path).toBeGreaterThan(0);
      expect(call.generated).toBeLessThanOrEqual(3);
      expect(call.charged, path).toBe(priceOf(call.prompt, call.generated));
      expect(call.invariant).toBe(true);
      answered += 1;
    }
  });

  it("refuses, uncharged and unserved, a path no token price covers and a path the backend could read otherwise", async () => {
    for (const [path, code] of [
      ["/v1/chat/completions/input_tokens", "unpriced_endpoint"],
      ["/v1/tokenize", "unpriced_endpoint"],
      ["/v1/chat%2Fcompletions", "invalid_path"],
    ] as const) {
      const call = await measured(path, { headers: JSON_TYPE, body: chat("hi") });
      expect(call.status, path).toBe(400);
      expect(JSON.parse(call.text).code, path).toBe(code);
      expect(call).toMatchObject({ charged: 0, prompt: 0, generated: 0 });
    }
  });

  it("refuses bodies in another charset or content coding with 415, and one too deep with 400, uncharged", async () => {
    const cases: [Record<string, string>, Buffer, number, string][] = [
      [
        { "content-type": "application/json; charset=utf-16" },
        Buffer.from(chat("hi"), "utf16le"),
        415,
        "unsupported_charset",
      ],
      [{ ...JSON_TYPE, "content-encoding": "gzip" }, Buffer.from(chat("hi")), 415, "unsupported_encoding"],
      [{ "content-type": "application/x-www-form-urlencoded" }, Buffer.from(chat("hi")), 415, "unsupported_media_type"],
      [
        JSON_TYPE,
        Buffer.from(chat("hi", { x: JSON.parse(`${"[".repeat(100)}${"]".repeat(100)}`) })),
        400,
        "body_too_deep",
      ],
    ];
    for (const [headers, body, status, code] of cases) {
      const call = await measured("/v1/chat/completions", { headers, body });
      expect(call.status, code).toBe(status);
      expect(JSON.parse(call.text).code).toBe(code);
      expect(call).toMatchObject({ charged: 0, prompt: 0, generated: 0 });
    }
  });

  it("reserves the length the backend obeys, whichever alias carries it, and refuses lengths that disagree", async () => {
    const ok = await measured("/v1/chat/completions", {
      headers: JSON_TYPE,
      body: chat("Count from one to twenty.", { n_predict: 4 }),
    });
    expect(ok.status).toBe(200);
    expect(ok.generated).toBeLessThanOrEqual(4);
    expect(ok.charged).toBe(priceOf(ok.prompt, ok.generated));
    answered += 1;
    for (const extra of [{ max_tokens: 2, n_predict: 12 }, { max_completion_tokens: 50 }, { n: 2 }]) {
      const refused = await measured("/v1/chat/completions", { headers: JSON_TYPE, body: chat("Count.", extra) });
      expect(refused.status, JSON.stringify(extra)).toBe(400);
      expect(refused).toMatchObject({ charged: 0, prompt: 0, generated: 0 });
    }
  });

  it("charges every generated request shape the price of the backend's own count, and refused ones nothing", {
    timeout: 1_200_000,
  }, async () => {
    const property = fc.asyncProperty(
      shapeArbitrary({ maxLength: MAX_TOKENS_CAP + 2, endpoints: ["chat", "chat", "chat", "completion", "unknown"] }),
      async (shape: RequestShape) => {
        const request = renderShape(shape, MODEL);
        const call = await measured(request.path, {
          headers: request.headers,
          body: request.body,
          disconnect: shape.disconnect,
        });
        expect(call.status, "no request shape gets a 5xx").toBeLessThan(500);
        expect(call.invariant).toBe(true);
        if (call.prompt === 0) {
          expect(call.charged, `refused (${call.status}) yet charged`).toBe(0);
          return;
        }
        answered += 1;
        expect(call.generated).toBeLessThanOrEqual(MAX_TOKENS_CAP);
        const price = priceOf(call.prompt, call.generated);
        if (shape.disconnect && call.streamed) {
          expect(call.charged).toBeGreaterThanOrEqual(priceOf(call.prompt, 0));
          expect(call.charged).toBeLessThanOrEqual(price);
        } else {
          expect(call.status).toBe(200);
          expect(call.charged, `charged ${call.charged} for backend work priced ${price}`).toBe(price);
        }
      },
    );
    const answeredBefore = answered;
    await checkProperty("billing differential, real model", property, 100);
    console.log(`billing differential, real model: ${answered - answeredBefore} of 200 requests served`);
    expect(answered - answeredBefore, "enough generated shapes reach the model to mean something").toBeGreaterThan(20);
  });

  it("ends with the accounting invariant: LND's settlements, the credits and every answered call charged", async () => {
    const verdict = await checkAccounting({ storePath, lnd: alice, upstreamServed: answered, quiescent: true });
    expect(verdict.violations).toEqual([]);
  });
});
