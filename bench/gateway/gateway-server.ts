// The gateway for the benchmark, in its own process. Invoices are faked with a payment hash whose preimage the
// benchmark knows, so it can present a valid paid token; verification is exactly the production path.
// Prints one JSON line: { url, authorization }.
import { randomBytes } from "node:crypto";
import { parseConfig, startGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import pino from "pino";
import { KnownPreimageInvoices } from "../support/known-preimage-invoices.js";

const upstream = process.argv[2];
if (!upstream) throw new Error("usage: gateway-server.ts <upstream-url>");
const preimage = randomBytes(32);

const config = parseConfig({
  listen: { port: 0 },
  operator: { port: 0 },
  lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
  store: { path: ":memory:" },
  log: { level: "silent" },
  services: [{ name: "llm", match: { pathPrefix: "/v1/" }, upstream, price: { sats: 1 }, freePaths: ["/v1/free"] }],
});
const gateway = await startGateway(config, {
  backend: new KnownPreimageInvoices([preimage]),
  log: pino({ level: "silent" }),
});
const challenge = await fetch(`${gateway.url}/v1/completions`);
const { macaroon } = (await challenge.json()) as { macaroon: string };
const authorization = formatAuthorization({ macaroons: [macaroon], preimage });
const check = await fetch(`${gateway.url}/v1/completions`, { headers: { authorization } });
if (check.status !== 200) throw new Error(`the benchmark token was refused: ${check.status}`);
process.stdout.write(`${JSON.stringify({ url: gateway.url, authorization })}\n`);
process.on("SIGINT", () => process.exit(0));
