// One gateway replica for the scale-out benchmark, in its own process: a metered per-call service in front of the
// trivial upstream, its store SQLite (":memory:") or a PostgreSQL URL. Invoices are faked with a payment hash whose
// preimage the benchmark knows, so the first replica can mint and pay a prepaid token; later replicas on the same
// database are handed its Authorization headers (env BENCH_AUTHORIZATIONS, a JSON array). Prints one JSON line:
// { url, authorizations }.
//
//   tsx bench/scale/gateway-server.ts <upstream-url> <sqlite|postgres://…> <tokens>
import { parseConfig, startGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import pino from "pino";
import { KnownPreimageInvoices } from "../../test/support/known-preimage-invoices.js";

const [upstream, storeArg, tokensArg] = process.argv.slice(2);
if (!upstream || !storeArg) throw new Error("usage: gateway-server.ts <upstream-url> <sqlite|postgres-url> <tokens>");
const given = process.env.BENCH_AUTHORIZATIONS;
/** One token per simulated agent: each has its own payment, so its own preimage. */
const tokens = Number(tokensArg ?? 1);
const invoices = new KnownPreimageInvoices();
/** Enough prepaid balance for every request of the run at 1 msat each. */
const DEPOSIT_MSAT = 1_000_000_000;

const config = parseConfig({
  listen: { port: 0 },
  operator: { port: 0 },
  lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
  store: storeArg === "sqlite" ? { path: ":memory:" } : { postgres: { url: storeArg, poolSize: 16 } },
  log: { level: "silent" },
  limits: { challengeBurst: 1_000, challengesPerMinute: 1_000 },
  services: [
    {
      name: "api",
      match: { pathPrefix: "/v1/" },
      upstream,
      pricing: { rules: [{ perCallMsat: 1 }], deposit: { minMsat: 1, maxMsat: DEPOSIT_MSAT } },
    },
  ],
});
const gateway = await startGateway(config, {
  backend: invoices,
  log: pino({ level: "silent" }),
});
const authorizations: string[] = given ? (JSON.parse(given) as string[]) : [];
if (!given) {
  for (let i = 0; i < tokens; i++) {
    const challenge = await fetch(`${gateway.url}/v1/call`, {
      method: "POST",
      headers: { "x-l402-deposit-msat": String(DEPOSIT_MSAT) },
    });
    const { macaroon, payment_hash } = (await challenge.json()) as { macaroon: string; payment_hash: string };
    authorizations.push(formatAuthorization({ macaroons: [macaroon], preimage: invoices.preimageOf(payment_hash) }));
  }
}
for (const authorization of authorizations) {
  const check = await fetch(`${gateway.url}/v1/call`, { method: "POST", headers: { authorization } });
  if (check.status !== 200) throw new Error(`a benchmark token was refused: ${check.status}`);
  await check.text();
}
process.stdout.write(`${JSON.stringify({ url: gateway.url, authorizations })}\n`);
