/**
 * Paid-request throughput through the gateway against the same upstream called directly, measured side by side in
 * one run (alternating rounds), printed as a ratio. The upstream and the gateway each run in their own process.
 *
 * With `--workers N` (N > 1) it also measures the paid path through `l402-gateway --workers N` (node:cluster workers
 * on one SQLite file) in the same rounds; the one-process gateway then uses a SQLite file too (else in memory).
 *
 *   npm run bench:gateway -- [--seconds 3] [--rounds 3] [--connections 16] [--workers 2]
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { closedLoop, type LoadResult, startChild } from "../support/closed-loop.js";
import { median } from "../support/median.js";

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "16" },
    workers: { type: "string", default: "1" },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const workers = Number(values.workers);

/** Closed-loop load on one URL through one connection pool. */
async function measure(url: string, headers: Record<string, string>): Promise<LoadResult> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections });
  const result = await closedLoop(connections, seconds, async () => {
    const res = await pool.request({ method: "POST", path: target.pathname, headers, body: '{"prompt":"hi"}' });
    await res.body.dump();
    return res.statusCode;
  });
  await pool.close();
  return result;
}

const upstream = await startChild(join(here, "upstream-server.ts"));
// Compared with workers, the one process uses a SQLite file too, as the workers must.
const gatewayChild = await startChild(
  join(here, "gateway-server.ts"),
  workers > 1 ? [upstream.line, "1"] : [upstream.line],
);
const gateway = JSON.parse(gatewayChild.line) as { url: string; authorization: string };
const clusterChild =
  workers > 1 ? await startChild(join(here, "gateway-server.ts"), [upstream.line, String(workers)]) : undefined;
const cluster = clusterChild && (JSON.parse(clusterChild.line) as { url: string; authorization: string });
try {
  const direct: number[] = [];
  const free: number[] = [];
  const proxied: number[] = [];
  const clustered: number[] = [];
  // Warm both paths, then alternate so drift on a shared machine affects both sides alike.
  await measure(`${upstream.line}/v1/completions`, {});
  await measure(`${gateway.url}/v1/completions`, { authorization: gateway.authorization });
  if (cluster) await measure(`${cluster.url}/v1/completions`, { authorization: cluster.authorization });
  for (let round = 1; round <= rounds; round++) {
    const d = await measure(`${upstream.line}/v1/completions`, {});
    const f = await measure(`${gateway.url}/v1/free`, {});
    const g = await measure(`${gateway.url}/v1/completions`, { authorization: gateway.authorization });
    const w = cluster && (await measure(`${cluster.url}/v1/completions`, { authorization: cluster.authorization }));
    direct.push(d.rps);
    free.push(f.rps);
    proxied.push(g.rps);
    if (w) clustered.push(w.rps);
    const show = (label: string, r: LoadResult) =>
      `${label} ${r.rps.toFixed(0)} req/s (p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms)`;
    console.log(
      `round ${round}: ${show("direct", d)} | ${show("gateway, free path", f)} | ${show("gateway, paid token verified", g)}` +
        (w ? ` | ${show(`gateway, ${workers} workers, paid`, w)}` : ""),
    );
  }
  const ratio = (xs: number[], ys: number[]) => (median(xs) / median(ys)).toFixed(3);
  console.log(`\nmedians of ${rounds} rounds, ${connections} connections, ${seconds} s each:`);
  console.log(`  paid requests through the gateway / direct to the upstream: ${ratio(proxied, direct)}x`);
  console.log(`  free path through the gateway (proxy alone) / direct:        ${ratio(free, direct)}x`);
  console.log(`  paid / free through the gateway (cost of L402 verification): ${ratio(proxied, free)}x`);
  if (cluster)
    console.log(`  paid, ${workers} workers / paid, one process:              ${ratio(clustered, proxied)}x`);
} finally {
  clusterChild?.child.kill();
  gatewayChild.child.kill();
  upstream.child.kill();
}
