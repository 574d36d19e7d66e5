// A gateway on the regtest network's operator node (alice), for the challenge-rate benchmark: every unpaid request
// makes a real invoice. Prints its URL. Arguments: <network.json> <upstream-url>.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, startGateway } from "@l402-gateway/gateway";
import pino from "pino";
import { gatewayLndConfig, readNetworkFile } from "../../test/regtest/network-file.js";

const [networkFile, upstream] = process.argv.slice(2);
if (!networkFile || !upstream) throw new Error("usage: challenge-gateway.ts <network.json> <upstream-url>");
const network = readNetworkFile(networkFile);
const gateway = await startGateway(
  parseConfig({
    listen: { port: 0 },
    operator: { port: 0 },
    lnd: gatewayLndConfig(network.nodes.alice),
    store: { path: join(mkdtempSync(join(tmpdir(), "bench-challenges-")), "gateway.sqlite") },
    log: { level: "silent" },
    limits: { challengeBurst: 1_000_000, challengesPerMinute: 1_000_000 },
    services: [{ name: "llm", match: { pathPrefix: "/v1/" }, upstream, price: { sats: 1 } }],
  }),
  { log: pino({ level: "silent" }) },
);
process.stdout.write(`${gateway.url}\n`);
process.on("SIGTERM", () => void gateway.close().then(() => process.exit(0)));
