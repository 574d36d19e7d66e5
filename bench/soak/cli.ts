/**
 * npm run bench:soak [-- --agents 8 --duration 600 --seed 1]
 *
 * Starts a regtest network and runs the soak driver against a gateway process: throughput, latency percentiles,
 * errors by class, gateway RSS at start and end, and the accounting invariant's verdict.
 */
import { parseArgs } from "node:util";
import { startNetwork } from "../../test/regtest/network.js";
import { runSoak } from "./soak.js";

const { values } = parseArgs({
  options: {
    agents: { type: "string", default: "8" },
    duration: { type: "string", default: "60" },
    seed: { type: "string", default: String(Math.floor(Math.random() * 2 ** 31)) },
  },
});

const network = await startNetwork({ log: (line) => console.error(`[regtest] ${line}`) });
try {
  const report = await runSoak({
    network: network.info,
    agents: Number(values.agents),
    durationMs: Number(values.duration) * 1000,
    seed: Number(values.seed),
    log: (line) => console.error(`[soak] ${line}`),
  });
  console.log(JSON.stringify(report, null, 2));
  console.log(
    `\n${report.requests} requests in ${report.seconds} s = ${report.throughputPerSecond}/s; ` +
      `${report.payments} payments (${report.topUps} top-ups); gateway RSS ${report.gatewayRssMb.start} MB, ` +
      `${report.gatewayRssMb.warm} MB after warm-up, ${report.gatewayRssMb.end} MB at the end ` +
      `(${report.gatewayRssMb.growthPerMinute} MB/min after warm-up); errors ${JSON.stringify(report.errors)}; invariant ` +
      `${report.verdict.ok ? "holds" : `BROKEN: ${report.verdict.violations.join("; ")}`}`,
  );
  process.exitCode = report.verdict.ok && Object.keys(report.errors).length === 0 ? 0 : 1;
} finally {
  await network.stop();
}
