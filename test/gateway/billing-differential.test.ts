import fc from "fast-check";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalTarget } from "../../gateway/src/http/canonical-target.js";
import { type RunningGateway, startGateway } from "../../gateway/src/server.js";
import { offlineGatewayConfig } from "../../gateway/src/test-support/offline-config.js";
import { settledAccountOf } from "../support/account.js";
import { checkProperty } from "../support/fuzz-seed.js";
import { buyMeteredToken, KnownPreimageInvoices } from "../support/known-preimage-invoices.js";
import { type LiberalUpstream, startLiberalUpstream } from "../support/liberal-llm-upstream.js";
import { type RequestShape, renderShape, shapeArbitrary } from "../support/request-shapes.js";

const RATES = { prompt: 3, completion: 7, fee: 11 };
const DEFAULT_MAX_TOKENS = 24;
const MAX_TOKENS_CAP = 64;
const priceOf = (usage: { promptTokens: number; completionTokens: number }) =>
  usage.promptTokens * RATES.prompt + usage.completionTokens * RATES.completion + RATES.fee;

/**
 * The billing property, against an upstream that reads requests as liberally as any real one: for every answered
 * call, the charge is the price of the usage the upstream reported and that usage fits the reservation; every
 * refused call is charged nothing and never reaches the upstream; no request shape gets a 5xx.
 */
describe("billing differential: what the upstream does is what was priced", () => {
  let upstream: LiberalUpstream;
  let gateway: RunningGateway;
  const invoices = new KnownPreimageInvoices();
  let authorization = "";
  const tally = { served: 0, refused: 0, disconnected: 0 };

  beforeAll(async () => {
    upstream = await startLiberalUpstream();
    const config = offlineGatewayConfig({
      limits: { challengesPerMinute: 1_000, challengeBurst: 1_000 },
      services: [
        {
          name: "llm",
          match: { pathPrefix: "/v1/" },
          upstream: upstream.url,
          freePaths: ["/v1/models"],
          pricing: {
            rules: [
              { pathPrefix: "/v1/embeddings", perCallMsat: 700 },
              { tokens: { promptMsatPerToken: RATES.prompt, completionMsatPerToken: RATES.completion }, feeMsat: 11 },
            ],
            defaultMaxTokens: DEFAULT_MAX_TOKENS,
            maxTokensCap: MAX_TOKENS_CAP,
            deposit: { minMsat: 1_000, maxMsat: 1_000_000_000 },
          },
        },
      ],
    });
    gateway = await startGateway(config, { backend: invoices, log: pino({ level: "silent" }) });
    authorization = await buyMeteredToken(gateway.url, invoices, 500_000_000);
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const settledAccount = () => settledAccountOf(gateway.url, authorization);

  async function send(shape: RequestShape, requestId: string): Promise<{ status: number; streamed: boolean }> {
    const request = renderShape(shape, "m");
    const abort = new AbortController();
    const res = await fetch(`${gateway.url}${request.path}`, {
      method: request.method,
      headers: { ...request.headers, authorization, "x-request-id": requestId },
      body: request.body,
      signal: abort.signal,
    });
    const streamed = (res.headers.get("content-type") ?? "").includes("text/event-stream");
    if (shape.disconnect && streamed) {
      const reader = res.body?.getReader();
      await reader?.read();
      abort.abort();
      await reader?.cancel().catch(() => {});
    } else {
      await res.arrayBuffer();
    }
    return { status: res.status, streamed };
  }

  it("charges every answered call the price of its reported usage, and every refused call nothing", {
    timeout: 600_000,
  }, async () => {
    let counter = 0;
    const property = fc.asyncProperty(shapeArbitrary({ maxLength: MAX_TOKENS_CAP + 8 }), async (shape) => {
      const requestId = `diff-${++counter}`;
      const before = await settledAccount();
      const { status, streamed } = await send(shape, requestId);
      const after = await settledAccount();
      const charged = after.charged_msat - before.charged_msat;
      expect(status, "no request shape gets a 5xx from the gateway").toBeLessThan(500);
      expect(after.credited_msat).toBe(after.charged_msat + after.balance_msat + after.reserved_msat);

      const served = upstream.served.get(requestId);
      if (!served) {
        tally.refused += 1;
        expect(charged, `refused (${status}) yet charged`).toBe(0);
        expect(upstream.generationIds.has(requestId), "a refused call reached the upstream's model").toBe(false);
        return;
      }
      // What reached the upstream is the gateway's own serialisation of one reading of the request.
      expect(served.contentType).toBe("application/json");
      const body = JSON.parse(served.rawBody) as Record<string, unknown>;
      expect(served.rawBody).toBe(JSON.stringify(body));
      expect(canonicalTarget(served.path).path).toBe(served.path);
      expect(served.limit, "the upstream obeyed a length the gateway wrote").toBeDefined();
      expect(served.limit).toBeLessThanOrEqual(MAX_TOKENS_CAP);
      const lengthFields = ["max_completion_tokens", "n_predict", "max_new_tokens", "max_output_tokens"];
      expect(lengthFields.filter((field) => field in body)).toEqual([]);
      expect(served.completionTokens).toBeLessThanOrEqual(served.limit ?? 0);
      const price = priceOf(served);
      if (shape.disconnect && streamed) {
        tally.disconnected += 1;
        expect(charged).toBeGreaterThanOrEqual(priceOf({ promptTokens: served.promptTokens, completionTokens: 0 }));
        expect(charged).toBeLessThanOrEqual(price);
      } else {
        tally.served += 1;
        expect(status).toBe(200);
        expect(charged, `charged ${charged} for usage priced ${price}`).toBe(price);
      }
    });
    await checkProperty("billing differential", property, 1_000);
    console.log(`billing differential: ${JSON.stringify(tally)}`);
    expect(tally.served).toBeGreaterThan(200);
    expect(tally.refused).toBeGreaterThan(200);
  });
});
