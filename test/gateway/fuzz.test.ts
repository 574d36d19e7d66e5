import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import fc from "fast-check";
import pino from "pino";
import { afterAll, beforeAll, describe, it } from "vitest";
import { ConfigError, parseConfig } from "../../gateway/src/config/load.js";
import { pricingSchema } from "../../gateway/src/config/pricing-schema.js";
import type { CreatedInvoice, InvoiceBackend } from "../../gateway/src/lightning/invoices.js";
import { LlmRequestError, parseLlmRequest } from "../../gateway/src/llm/llm-request.js";
import { type RunningGateway, startGateway } from "../../gateway/src/server.js";
import { offlineGatewayConfig } from "../../gateway/src/test-support/offline-config.js";
import { checkProperty } from "../support/fuzz-seed.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";

class FuzzInvoices implements InvoiceBackend {
  async createInvoice(args: { sats: number; expirySeconds: number }): Promise<CreatedInvoice> {
    return {
      paymentHash: randomBytes(32).toString("hex"),
      request: `lnbcrt${args.sats}fuzz`,
      expiresAt: new Date(Date.now() + 60_000),
    };
  }
  async lookupSettlement() {
    return undefined;
  }
  subscribeSettlements() {
    return () => {};
  }
  async ping() {}
}

/** Sends raw header values (no client-side normalisation) and returns status, content type and body. */
function send(url: string, headers: [string, string][]): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(url, { method: "GET" });
    for (const [name, value] of headers) req.appendHeader(name, value);
    req.on("response", (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on("end", () =>
        resolvePromise({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

const ADMIN_SECRET = randomBytes(32).toString("base64url");

/** POSTs or PUTs a raw body and returns status, content type and body. */
async function sendBody(
  url: string,
  method: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(method === "GET" ? {} : { body }),
  });
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
}

const isTyped4xx = (res: { status: number; type: string; body: string }) => {
  if (res.status < 400 || res.status >= 500) return false;
  const parsed = JSON.parse(res.body) as { code?: unknown };
  return res.type.startsWith("application/json") && typeof parsed.code === "string";
};

/** JSON text shaped like an OpenAI request, broken in every way, or not JSON at all. */
const llmBodies = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .record(
      {
        model: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        messages: fc.oneof(fc.array(fc.jsonValue(), { maxLength: 3 }), fc.string(), fc.constant([])),
        max_tokens: fc.oneof(fc.integer({ min: -5, max: 10_000 }), fc.double(), fc.string(), fc.constant(null)),
        stream: fc.oneof(fc.boolean(), fc.string(), fc.constant(null)),
        stream_options: fc.oneof(fc.jsonValue(), fc.record({ include_usage: fc.jsonValue() })),
        prompt: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 }), fc.integer()),
      },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
);

const printable = fc.string({ unit: fc.constantFrom(..."abcXYZ019+/=:,. \"'LSATL402macaroninvoketn"), maxLength: 300 });

// Thousands of cases per property: minutes are allowed when the 2 cores are shared with other work.
describe("gateway under property-based fuzzing", { timeout: 120_000 }, () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    const config = offlineGatewayConfig({
      limits: { challengeBurst: 1_000_000, challengesPerMinute: 1_000_000, maxHeaderBytes: 4_096 },
      admin: { port: 0, secret: ADMIN_SECRET },
      services: [
        {
          name: "metered",
          match: { pathPrefix: "/m/" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: 1_000 }] },
        },
        { name: "llm", match: { pathPrefix: "/v1/" }, upstream: upstream.url, price: { sats: 1 } },
      ],
    });
    gateway = await startGateway(config, { backend: new FuzzInvoices(), log: pino({ level: "silent" }) });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("the config loader accepts or names the problem, never crashes", async () => {
    const anyConfig = fc.oneof(
      fc.anything(),
      fc.record(
        {
          lnd: fc.oneof(fc.anything(), fc.record({ socket: fc.string(), cert: fc.string(), macaroon: fc.string() })),
          store: fc.oneof(fc.anything(), fc.record({ path: fc.string() })),
          services: fc.oneof(fc.anything(), fc.array(fc.dictionary(fc.string(), fc.anything()), { maxLength: 3 })),
          limits: fc.dictionary(fc.constantFrom("maxHeaderBytes", "maxBodyBytes", "challengeBurst"), fc.anything()),
        },
        { requiredKeys: [] },
      ),
    );
    await checkProperty(
      "parseConfig",
      fc.property(anyConfig, (raw) => {
        try {
          parseConfig(raw);
          return true;
        } catch (error) {
          return error instanceof ConfigError && error.message.startsWith("Invalid config");
        }
      }),
      10_000,
    );
  });

  it("any Authorization header gets a typed 4xx JSON answer, never a 5xx", async () => {
    const headerValue = fc.oneof(
      printable,
      fc.string({ maxLength: 200 }).filter((s) => !/[\r\n\0]/.test(s)),
    );
    await checkProperty(
      "gateway Authorization",
      fc.asyncProperty(fc.array(headerValue, { minLength: 1, maxLength: 3 }), async (values) => {
        let res: { status: number; type: string; body: string };
        try {
          res = await send(
            `${gateway.url}/v1/x`,
            values.map((v) => ["authorization", v]),
          );
        } catch (error) {
          // Node's client refuses some values itself (invalid header characters): nothing reached the gateway.
          return (error as NodeJS.ErrnoException).code === "ERR_INVALID_CHAR";
        }
        if (res.status >= 500 || res.status < 400) return false;
        const body = JSON.parse(res.body) as { code?: unknown };
        return res.type.startsWith("application/json") && typeof body.code === "string";
      }),
      2_000,
    );
  });

  it("a metered LLM route answers any body and deposit header with a typed 4xx, never a 5xx", async () => {
    const deposit = fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.integer().map(String)), { nil: undefined });
    await checkProperty(
      "metered LLM bodies",
      fc.asyncProperty(llmBodies, deposit, async (body, depositHeader) => {
        const headers: Record<string, string> =
          depositHeader === undefined ? {} : { "x-l402-deposit-msat": depositHeader };
        let res: { status: number; type: string; body: string };
        try {
          res = await sendBody(`${gateway.url}/m/v1/chat/completions`, "POST", body, headers);
        } catch (error) {
          return error instanceof TypeError && /header/i.test(String((error as Error).cause ?? error.message));
        }
        // A body that can be priced gets its 402 challenge; anything else a typed 400.
        return isTyped4xx(res) && [400, 402].includes(res.status);
      }),
      1_000,
    );
  });

  it("the admin API answers any body with 200 or a typed 4xx, and any credential but its own with 401", async () => {
    const bearer = { authorization: `Bearer ${ADMIN_SECRET}` };
    const pricing = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 100 }),
      fc
        .record(
          {
            rules: fc.array(
              fc.record(
                {
                  perCallMsat: fc.oneof(fc.integer({ min: -10, max: 10_000 }), fc.double()),
                  tokens: fc.record({ promptMsatPerToken: fc.integer(), completionMsatPerToken: fc.jsonValue() }),
                  feeMsat: fc.jsonValue(),
                  model: fc.jsonValue(),
                },
                { requiredKeys: [] },
              ),
              { maxLength: 2 },
            ),
            surge: fc.jsonValue(),
          },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
    );
    await checkProperty(
      "admin API bodies",
      fc.asyncProperty(pricing, async (body) => {
        const res = await sendBody(`${gateway.adminUrl}/admin/prices/metered`, "PUT", body, bearer);
        return res.status === 200 || isTyped4xx(res);
      }),
      1_000,
    );
    await checkProperty(
      "admin API credentials",
      fc.asyncProperty(printable, async (credential) => {
        const res = await sendBody(`${gateway.adminUrl}/admin/prices`, "GET", "", { authorization: credential });
        return res.status === 401 && isTyped4xx(res);
      }),
      500,
    );
  });

  it("the request-body and pricing parsers type every rejection (10,000 cases each)", async () => {
    const pricing = pricingSchema.parse({ rules: [{ perCallMsat: 1 }] });
    await checkProperty(
      "parseLlmRequest",
      fc.property(llmBodies, (body) => {
        try {
          parseLlmRequest("chat", { "content-type": "application/json" }, Buffer.from(body), pricing);
          return true;
        } catch (error) {
          return error instanceof LlmRequestError;
        }
      }),
      10_000,
    );
    await checkProperty(
      "pricingSchema",
      fc.property(fc.jsonValue(), (value) => {
        const result = pricingSchema.safeParse(value);
        return result.success || result.error.issues.length > 0;
      }),
      10_000,
    );
  });
});
