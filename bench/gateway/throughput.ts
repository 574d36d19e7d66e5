/**
 * Paid-request throughput through the gateway against the same upstream called directly, measured side by side in
 * one run (alternating rounds), printed as a ratio. The upstream and the gateway each run in their own process.
 *
 *   npm run bench:gateway -- [--seconds 3] [--rounds 3] [--connections 16]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Pool } from "undici";

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "16" },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);

async function startChild(script: string, args: string[] = []): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(here, script), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  return { child, line: chunk.toString().trim() };
}

/** Closed-loop load: `connections` workers each send requests back to back for `seconds`. */
async function measure(
  url: string,
  headers: Record<string, string>,
): Promise<{ rps: number; p50: number; p99: number }> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections });
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const res = await pool.request({ method: "POST", path: target.pathname, headers, body: '{"prompt":"hi"}' });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99) };
}

const upstream = await startChild("upstream-server.ts");
const gatewayChild = await startChild("gateway-server.ts", [upstream.line]);
const gateway = JSON.parse(gatewayChild.line) as { url: string; authorization: string };
try {
  const direct: number[] = [];
  const free: number[] = [];
  const proxied: number[] = [];
  // Warm both paths, then alternate so drift on a shared machine affects both sides alike.
  await measure(`${upstream.line}/v1/completions`, {});
  await measure(`${gateway.url}/v1/completions`, { authorization: gateway.authorization });
  for (let round = 1; round <= rounds; round++) {
    const d = await measure(`${upstream.line}/v1/completions`, {});
    const f = await measure(`${gateway.url}/v1/free`, {});
    const g = await measure(`${gateway.url}/v1/completions`, { authorization: gateway.authorization });
    direct.push(d.rps);
    free.push(f.rps);
    proxied.push(g.rps);
    const show = (label: string, r: { rps: number; p50: number; p99: number }) =>
      `${label} ${r.rps.toFixed(0)} req/s (p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms)`;
    console.log(
      `round ${round}: ${show("direct", d)} | ${show("gateway, free path", f)} | ${show("gateway, paid token verified", g)}`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const ratio = (xs: number[], ys: number[]) => (median(xs) / median(ys)).toFixed(3);
  console.log(`\nmedians of ${rounds} rounds, ${connections} connections, ${seconds} s each:`);
  console.log(`  paid requests through the gateway / direct to the upstream: ${ratio(proxied, direct)}x`);
  console.log(`  free path through the gateway (proxy alone) / direct:        ${ratio(free, direct)}x`);
  console.log(`  paid / free through the gateway (cost of L402 verification): ${ratio(proxied, free)}x`);
} finally {
  gatewayChild.child.kill();
  upstream.child.kill();
}
