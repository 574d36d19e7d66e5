import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import fc from "fast-check";
import pino from "pino";
import { afterAll, beforeAll, describe, it } from "vitest";
import { checkProperty } from "../../test/support/fuzz-seed.js";
import { startUpstream, type TestUpstream } from "../../test/support/upstream.js";
import { ConfigError, parseConfig } from "./config/load.js";
import type { CreatedInvoice, InvoiceBackend } from "./lightning/invoices.js";
import { type RunningGateway, startGateway } from "./server.js";

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

const printable = fc.string({ unit: fc.constantFrom(..."abcXYZ019+/=:,. \"'LSATL402macaroninvoketn"), maxLength: 300 });

// Thousands of cases per property: minutes are allowed when the 2 cores are shared with other work.
describe("gateway under property-based fuzzing", { timeout: 120_000 }, () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    const config = parseConfig({
      listen: { port: 0 },
      operator: { port: 0 },
      lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
      store: { path: ":memory:" },
      limits: { challengeBurst: 1_000_000, challengesPerMinute: 1_000_000, maxHeaderBytes: 4_096 },
      log: { level: "silent" },
      services: [{ name: "llm", match: { pathPrefix: "/v1/" }, upstream: upstream.url, price: { sats: 1 } }],
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
});
