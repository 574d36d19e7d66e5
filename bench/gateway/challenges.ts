/**
 * Burst challenge issuance on a real regtest LND, side by side in one run (alternating rounds): raw `createInvoice`
 * from Node on the operator's node, the gateway's 402 without the invoice pool (each challenge waits on AddInvoice),
 * and with it (`lnd.invoicePool`, filled before each burst). Prints each rate and the ratios.
 *
 *   npm run bench:challenges -- [--burst 200] [--concurrency 16] [--rounds 3]
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseConfig, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import { createInvoice } from "lightning";
import pino from "pino";
import { startNetwork } from "../../test/regtest/network.js";
import { gatewayLndConfig, lndClient } from "../../test/regtest/network-file.js";
import { scrapeSum } from "../../test/support/metrics.js";
import { burst } from "../support/burst.js";
import { median } from "../support/median.js";

const { values } = parseArgs({
  options: {
    burst: { type: "string", default: "200" },
    concurrency: { type: "string", default: "16" },
    rounds: { type: "string", default: "3" },
  },
});
const BURST = Number(values.burst);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);

console.error("[bench] starting a regtest network…");
const network = await startNetwork({ log: (line) => console.error(`[regtest] ${line}`) });
const dir = mkdtempSync(join(tmpdir(), "bench-challenges-"));
const alice = lndClient(network.info.nodes.alice, "invoice");

async function gateway(name: string, poolSize: number): Promise<RunningGateway> {
  return startGateway(
    parseConfig({
      listen: { port: 0 },
      operator: { port: 0 },
      lnd: { ...gatewayLndConfig(network.info.nodes.alice), invoicePool: { size: poolSize, concurrency: 4 } },
      store: { path: join(dir, `${name}.sqlite`) },
      log: { level: "silent" },
      limits: { challengeBurst: 1_000_000, challengesPerMinute: 1_000_000 },
      services: [{ name: "api", match: { pathPrefix: "/v1/" }, upstream: "http://127.0.0.1:1", price: { sats: 10 } }],
    }),
    { log: pino({ level: "silent" }) },
  );
}

const direct = await gateway("direct", 0);
const pooled = await gateway("pooled", BURST);
const challenge = (g: RunningGateway) => async () => {
  const res = await fetch(`${g.url}/v1/call`);
  await res.arrayBuffer();
  return res.status === 402;
};
const rawInvoice = async () => {
  await createInvoice({
    lnd: alice,
    tokens: 10,
    description: "bench",
    expires_at: new Date(Date.now() + 6e5).toISOString(),
  });
  return true;
};
const poolFull = async () => {
  while ((await scrapeSum(`${pooled.operatorUrl}/metrics`, "l402_invoice_pool_ready")) < BURST) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

const rates = { raw: [] as number[], direct: [] as number[], pooled: [] as number[] };
try {
  // Warm-up, one burst of each (connections, JIT, LND's caches); the pool fills again before round 1.
  await burst(BURST, CONCURRENCY, rawInvoice);
  await burst(BURST, CONCURRENCY, challenge(direct));
  await poolFull();
  await burst(BURST, CONCURRENCY, challenge(pooled));
  for (let round = 1; round <= ROUNDS; round++) {
    // The pool refills between bursts; it is full and idle while the other two are measured.
    await poolFull();
    const raw = await burst(BURST, CONCURRENCY, rawInvoice);
    const unpooled = await burst(BURST, CONCURRENCY, challenge(direct));
    const withPool = await burst(BURST, CONCURRENCY, challenge(pooled));
    rates.raw.push(raw);
    rates.direct.push(unpooled);
    rates.pooled.push(withPool);
    console.log(
      `round ${round}: raw createInvoice ${raw.toFixed(0)}/s | gateway 402, no pool ${unpooled.toFixed(0)}/s | ` +
        `gateway 402, invoice pool ${withPool.toFixed(0)}/s`,
    );
  }
  const raw = median(rates.raw);
  const unpooled = median(rates.direct);
  const withPool = median(rates.pooled);
  console.log(`\nmedians of ${ROUNDS} bursts of ${BURST} challenges, ${CONCURRENCY} at a time:`);
  console.log(`  raw createInvoice on the regtest LND:  ${raw.toFixed(0)}/s`);
  console.log(
    `  gateway 402 challenges, no pool:       ${unpooled.toFixed(0)}/s (${(unpooled / raw).toFixed(2)}x raw)`,
  );
  console.log(
    `  gateway 402 challenges, invoice pool:  ${withPool.toFixed(0)}/s (${(withPool / raw).toFixed(2)}x raw, ${(withPool / unpooled).toFixed(2)}x no pool)`,
  );
} finally {
  await direct.close();
  await pooled.close();
  await network.stop();
}
