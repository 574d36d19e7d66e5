/**
 * Scale-out benchmark: prepaid (metered, per-call) paid-request throughput with one gateway on SQLite, one gateway
 * on PostgreSQL, and two gateway replicas on one PostgreSQL database, measured side by side in one run (alternating
 * rounds), printed as ratios. Every paid request verifies the token, reserves from the shared balance, forwards to a
 * trivial upstream and settles. Each gateway and the upstream run in their own process; PostgreSQL is a throwaway
 * local cluster (test/support/postgres.ts). The load is split evenly over the replicas, as a load balancer would.
 * Each connection is one agent with its own prepaid token (`--tokens 1`: every connection draws on one balance, the
 * worst case for row-lock contention).
 *
 *   npm run bench:scale -- [--seconds 3] [--rounds 3] [--connections 16] [--tokens 16]
 */
import type { ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { startPostgres } from "../../test/support/postgres.js";
import { closedLoop, type LoadResult, startChild } from "../support/closed-loop.js";
import { median } from "../support/median.js";

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "16" },
    tokens: { type: "string" },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const tokens = Number(values.tokens ?? values.connections);

type Child = Awaited<ReturnType<typeof startChild>>;

interface Replica {
  readonly url: string;
  readonly authorizations: readonly string[];
}

/** A gateway process; a second replica on the same database gets the first one's tokens. */
async function startReplica(upstream: string, store: string, sharing?: Replica): Promise<Child & Replica> {
  const started = await startChild(
    join(here, "gateway-server.ts"),
    [upstream, store, String(tokens)],
    sharing ? { BENCH_AUTHORIZATIONS: JSON.stringify(sharing.authorizations) } : {},
  );
  return { ...started, ...(JSON.parse(started.line) as Replica) };
}

/** Closed-loop load, the workers spread evenly over the replicas as a load balancer would. */
async function measure(replicas: readonly Replica[]): Promise<LoadResult> {
  const pools = replicas.map((r) => new Pool(new URL(r.url).origin, { connections }));
  const result = await closedLoop(connections, seconds, async (i) => {
    const replica = replicas[i % replicas.length];
    const pool = pools[i % pools.length];
    const authorization = replica?.authorizations[i % replica.authorizations.length];
    if (!pool || !authorization) throw new Error(`no replica for worker ${i}`);
    const res = await pool.request({ method: "POST", path: "/v1/call", headers: { authorization } });
    await res.body.dump();
    return res.statusCode;
  });
  await Promise.all(pools.map((p) => p.close()));
  return result;
}

const postgres = await startPostgres();
const children: ChildProcess[] = [];
try {
  const upstream = await startChild(join(here, "..", "gateway", "upstream-server.ts"));
  children.push(upstream.child);
  const sqlite = await startReplica(upstream.line, "sqlite");
  const alone = await startReplica(upstream.line, await postgres.createDatabase());
  const sharedDb = await postgres.createDatabase();
  const first = await startReplica(upstream.line, sharedDb);
  const second = await startReplica(upstream.line, sharedDb, first);
  children.push(sqlite.child, alone.child, first.child, second.child);

  const setups = {
    "1 gateway, SQLite": [sqlite],
    "1 gateway, PostgreSQL": [alone],
    "2 gateways, one PostgreSQL": [first, second],
  } as const;
  const results = new Map<string, number[]>(Object.keys(setups).map((name) => [name, []]));
  for (const replicas of Object.values(setups)) await measure(replicas); // warm-up
  for (let round = 1; round <= rounds; round++) {
    const line: string[] = [];
    for (const [name, replicas] of Object.entries(setups)) {
      const r = await measure(replicas);
      results.get(name)?.push(r.rps);
      line.push(`${name} ${r.rps.toFixed(0)} req/s (p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms)`);
    }
    console.log(`round ${round}: ${line.join(" | ")}`);
  }
  const of = (name: string) => median(results.get(name) ?? []);
  const sqliteRps = of("1 gateway, SQLite");
  const onePg = of("1 gateway, PostgreSQL");
  const twoPg = of("2 gateways, one PostgreSQL");
  console.log(
    `\nmedians of ${rounds} rounds, ${connections} connections, ${tokens} tokens, ${seconds} s each (metered paid requests):`,
  );
  console.log(`  1 gateway on SQLite:          ${sqliteRps.toFixed(0)} req/s`);
  console.log(`  1 gateway on PostgreSQL:      ${onePg.toFixed(0)} req/s`);
  console.log(`  2 gateways on one PostgreSQL: ${twoPg.toFixed(0)} req/s`);
  console.log(`  1 PostgreSQL / 1 SQLite:  ${(onePg / sqliteRps).toFixed(3)}x`);
  console.log(`  2 PostgreSQL / 1 SQLite:  ${(twoPg / sqliteRps).toFixed(3)}x`);
  console.log(`  2 PostgreSQL / 1 PostgreSQL (replica scaling): ${(twoPg / onePg).toFixed(3)}x`);
} finally {
  for (const child of children) child.kill();
  await postgres.stop();
}
