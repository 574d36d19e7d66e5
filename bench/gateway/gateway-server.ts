// The gateway for the benchmark, in its own process. Invoices are faked: the benchmark knows each one's preimage (test/support/known-preimage-invoices.ts), so it
// benchmark knows, so it can present a valid paid token; verification is exactly the production path.
// Given a worker count, the store is a SQLite file (else in memory); above 1, the token is bought from one process on
// that file, and then `--workers N` serves it (workers cannot be handed a fake invoice backend, and need none to verify).
// Prints one JSON line: { url, authorization }.
//
//   tsx bench/gateway/gateway-server.ts <upstream-url> [workers]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, startCluster, startGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import pino from "pino";
import { KnownPreimageInvoices } from "../../test/support/known-preimage-invoices.js";

const [upstream, workersArg] = process.argv.slice(2);
if (!upstream) throw new Error("usage: gateway-server.ts <upstream-url> [workers]");
const workers = Number(workersArg ?? 1);
const invoices = new KnownPreimageInvoices();
const log = pino({ level: "silent" });

const config = parseConfig({
  listen: { port: 0 },
  operator: { port: 0 },
  lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
  store: {
    path: workersArg !== undefined ? join(mkdtempSync(join(tmpdir(), "bench-gateway-")), "gateway.sqlite") : ":memory:",
  },
  log: { level: "silent" },
  services: [{ name: "llm", match: { pathPrefix: "/v1/" }, upstream, price: { sats: 1 }, freePaths: ["/v1/free"] }],
});
const gateway = await startGateway(config, { backend: invoices, log });
const paidOn = async (url: string) => {
  const check = await fetch(`${url}/v1/completions`, { headers: { authorization } });
  if (check.status !== 200) throw new Error(`the benchmark token was refused: ${check.status}`);
  await check.text();
};
const challenge = await fetch(`${gateway.url}/v1/completions`);
const { macaroon, payment_hash } = (await challenge.json()) as { macaroon: string; payment_hash: string };
const authorization = formatAuthorization({ macaroons: [macaroon], preimage: invoices.preimageOf(payment_hash) });
await paidOn(gateway.url);
let url = gateway.url;
if (workers > 1) {
  await gateway.close();
  const cluster = await startCluster(config, { workers, log });
  await paidOn(cluster.url);
  url = cluster.url;
  process.once("SIGTERM", () => void cluster.close().then(() => process.exit(0)));
}
process.stdout.write(`${JSON.stringify({ url, authorization })}\n`);
// SIGINT: exit normally, so that node writes a CPU profile when one is being recorded.
process.once("SIGINT", () => process.exit(0));
