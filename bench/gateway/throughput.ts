/**
 * The gateway's hot path against Aperture's, side by side in one run: a tiny Go upstream, a Go closed-loop load
 * generator (`wrk -c N` style), rounds that alternate between the targets so that drift on a shared machine touches
 * them all alike. Measured: the upstream directly, Aperture v0.5.0's paid path, this gateway's paid and free paths in
 * two set-ups, added latency at one connection, and 402 challenge rates (Aperture, this gateway, raw createInvoice on
 * the same regtest LND).
 *
 * Beside them, the floor (bench/gateway/floor-proxy.ts): a bare Node proxy, node:http and the same undici forwarding to
 * the same upstream, no auth, no logging, no metrics. The gateway's rates are printed as ratios to Aperture and to the
 * floor, and the floor's to Aperture, with each one's CPU per request: what a Node proxy costs on this machine at
 * least, and what the gateway adds to it.
 *
 * The two set-ups of this gateway: "in-process" (bench/gateway/gateway-server.ts: in-memory store, logging silent,
 * invoices faked) isolates the request path; "as operators run it" (bench/gateway/operator-gateway.ts: the CLI from a
 * YAML config, SQLite file store or `--store postgres`, the regtest LND with its settlement watcher, request logs at
 * the default level to a file) is what an operator gets. Both are measured in the same rounds as Aperture. Prints each figure and the ratios the performance targets are stated in, and beside each proxy its
 * CPU time per request (its process and workers, from /proc), which other load on the machine skews far less.
 *
 *   npm run bench:gateway -- [--seconds 3] [--rounds 3] [--connections 16] [--workers 2] [--no-aperture] [--profile]
 *                            [--store sqlite|postgres] [--baseline <checkout>]
 *
 * Aperture and the load tools are built from the Go module proxy on first use and cached; without Go the benchmark
 * says so and stops. `--no-aperture` skips the regtest network (our own in-process paths only: the operator set-up
 * needs LND). `--workers N` (N > 1) adds the
 * paid path through `--workers N` (node:cluster); both setups then keep tokens in a SQLite file, as workers must.
 * `--profile` records CPU profiles of the in-process and the operator gateway and prints where each one's time goes. `--baseline DIR`
 * (another checkout, built, such as a worktree of the previous commit) adds its gateway's paid and free paths, in both
 * set-ups, to the same rounds and prints this gateway's figures (rates and CPU per request) against it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseChallenge } from "@l402-gateway/l402";
import { createInvoice, pay } from "lightning";
import { startNetwork } from "../../test/regtest/network.js";
import { lndClient } from "../../test/regtest/network-file.js";
import { startAperture } from "../../test/support/aperture.js";
import { startPostgres } from "../../test/support/postgres.js";
import { startChild } from "../support/closed-loop.js";
import { goTool } from "../support/go-tools.js";
import { type LoadResult, load } from "../support/loadgen.js";
import { median } from "../support/median.js";
import { processTreeCpuSeconds } from "../support/process-cpu.js";
import { summariseProfile } from "../support/profile.js";
import { startOperatorGateway } from "./operator-gateway.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "16" },
    workers: { type: "string", default: "2" },
    "no-aperture": { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    store: { type: "string", default: "sqlite" },
    baseline: { type: "string" },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const workers = Number(values.workers);
if (values.store !== "sqlite" && values.store !== "postgres") throw new Error("--store takes sqlite or postgres");
const here = import.meta.dirname;
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const BASE_PAID = "baseline gateway, paid token";
const BASE_FREE = "baseline gateway, free path";
const FLOOR = "floor: bare Node proxy";
const BASE_OPERATOR_PAID = "baseline operator set-up, paid token";
const BASE_OPERATOR_FREE = "baseline operator set-up, free path";

async function firstLine(child: ChildProcess): Promise<string> {
  const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  return chunk.toString().trim().split("\n")[0] ?? "";
}

/** Everything started so far, stopped in reverse order however the run ends. */
const cleanups: (() => Promise<unknown> | undefined)[] = [];
const stopAll = async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()?.catch(() => {});
};
process.once("SIGINT", () => void stopAll().then(() => process.exit(130)));
const stopChild = (child: ChildProcess, signal: NodeJS.Signals = "SIGTERM") => {
  if (child.exitCode !== null) return undefined;
  child.kill(signal);
  return once(child, "exit");
};

const profileDir = values.profile ? mkdtempSync(join(tmpdir(), "gateway-profile-")) : undefined;
const operatorProfileDir = values.profile ? mkdtempSync(join(tmpdir(), "operator-profile-")) : undefined;
const OPERATOR_PAID = "operator set-up, paid token";
const OPERATOR_FREE = "operator set-up, free path";
const OPERATOR_CHALLENGES = "operator set-up's 402 challenges";

async function invoiceRate(lnd: ReturnType<typeof lndClient>, parallel: number, forSeconds: number): Promise<number> {
  let made = 0;
  const deadline = performance.now() + forSeconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < deadline) {
        await createInvoice({ lnd, tokens: 1, description: "bench" });
        made++;
      }
    }),
  );
  return made / ((performance.now() - started) / 1000);
}

/** Starts everything, measures, prints; `cleanups` stops what it started. */
async function run(): Promise<void> {
  log("building (or reusing) the Go load generator and upstream");
  const loadgen = await goTool("loadgen");
  const upstreamProcess = spawn(await goTool("upstream"), [], { stdio: ["ignore", "pipe", "inherit"] });
  cleanups.push(() => stopChild(upstreamProcess));
  const upstream = await firstLine(upstreamProcess);
  const gatewayChild = await startChild(
    join(here, "gateway-server.ts"),
    workers > 1 ? [upstream, "1"] : [upstream],
    {},
    profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
  );
  // SIGINT: the benchmark's gateway exits normally on it, so that node writes the CPU profile.
  cleanups.push(() => stopChild(gatewayChild.child, "SIGINT"));
  const ours = JSON.parse(gatewayChild.line) as { url: string; authorization: string };

  type Target = {
    readonly label: string;
    readonly url: string;
    readonly headers?: Record<string, string>;
    /** The proxy's process (with its workers), whose CPU time per request is measured. */
    readonly pid?: number;
  };
  /** A gateway's two targets: a paid call with its token, and a free path. */
  const paidAndFree = (
    labels: { readonly paid: string; readonly free: string },
    gateway: { url: string; authorization: string },
    pid: number | undefined,
  ): Target[] => [
    {
      label: labels.paid,
      url: `${gateway.url}/v1/completions`,
      headers: { authorization: gateway.authorization },
      pid,
    },
    { label: labels.free, url: `${gateway.url}/v1/free`, pid },
  ];
  // The floor: a bare Node proxy (node:http and the same undici forwarding, nothing else), in the same rounds.
  const floorChild = await startChild(join(here, "floor-proxy.ts"), [upstream]);
  cleanups.push(() => stopChild(floorChild.child, "SIGINT"));
  const targets: Target[] = [
    { label: "upstream direct", url: `${upstream}/v1/completions` },
    { label: FLOOR, url: `${floorChild.line}/v1/completions`, pid: floorChild.child.pid },
    ...paidAndFree({ paid: "this gateway, paid token", free: "this gateway, free path" }, ours, gatewayChild.child.pid),
  ];
  const baseline = values.baseline;
  if (baseline !== undefined) {
    const baseChild = await startChild(join(baseline, "bench/gateway/gateway-server.ts"), [upstream]);
    cleanups.push(() => stopChild(baseChild.child));
    const base = JSON.parse(baseChild.line) as { url: string; authorization: string };
    targets.push(...paidAndFree({ paid: BASE_PAID, free: BASE_FREE }, base, baseChild.child.pid));
  }
  if (workers > 1) {
    const clusterChild = await startChild(join(here, "gateway-server.ts"), [upstream, String(workers)]);
    cleanups.push(() => stopChild(clusterChild.child));
    const cluster = JSON.parse(clusterChild.line) as { url: string; authorization: string };
    targets.push({
      label: `this gateway, paid token, ${workers} workers`,
      url: `${cluster.url}/v1/completions`,
      headers: { authorization: cluster.authorization },
      pid: clusterChild.child.pid,
    });
  }

  const challengeRates: { label: string; measure: () => Promise<number> }[] = [];
  if (!values["no-aperture"]) {
    log("starting a regtest network and Aperture v0.5.0 (built from the Go module proxy on first use)");
    const network = await startNetwork({ log: (line) => log(`regtest: ${line}`) });
    cleanups.push(() => network.stop());
    const aperture = await startAperture({
      node: network.info.nodes.alice,
      upstream: new URL(upstream).host,
      priceSats: 1,
      authScheme: "l402",
    });
    cleanups.push(() => aperture.kill());
    const unpaid = await fetch(`${aperture.url}/v1/completions`, { method: "POST", body: "{}" });
    await unpaid.arrayBuffer();
    const challenge = parseChallenge(unpaid.headers.get("www-authenticate") ?? "");
    const bob = lndClient(network.info.nodes.bob);
    const paid = await pay({ lnd: bob, request: challenge.invoice });
    const authorization = `L402 ${challenge.macaroon}:${paid.secret}`;
    targets.splice(1, 0, {
      label: "Aperture v0.5.0, paid token",
      url: `${aperture.url}/v1/completions`,
      headers: { authorization },
      pid: aperture.pid,
    });

    log(`starting the gateway as operators run it (CLI, ${values.store} store, LND, request logs at info)`);
    let postgresUrl: string | undefined;
    if (values.store === "postgres") {
      const postgres = await startPostgres();
      cleanups.push(() => postgres.stop());
      postgresUrl = await postgres.createDatabase();
    }
    const operator = await startOperatorGateway({
      network: network.info,
      upstream,
      postgresUrl,
      nodeArgs: operatorProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${operatorProfileDir}`] : [],
    });
    // SIGTERM: the CLI closes the gateway and exits normally, so that node writes the CPU profile.
    cleanups.push(() => stopChild(operator.child));
    log(`operator set-up's request log: ${operator.logFile}`);
    targets.push(...paidAndFree({ paid: OPERATOR_PAID, free: OPERATOR_FREE }, operator, operator.child.pid));
    if (baseline !== undefined) {
      const baseOperator = await startOperatorGateway({
        network: network.info,
        upstream,
        postgresUrl,
        checkout: baseline,
      });
      cleanups.push(() => stopChild(baseOperator.child));
      targets.push(
        ...paidAndFree({ paid: BASE_OPERATOR_PAID, free: BASE_OPERATOR_FREE }, baseOperator, baseOperator.child.pid),
      );
    }

    // Challenges: every unpaid request makes an invoice on the same LND (alice), so these share its AddInvoice rate.
    const challengeGateway = await startChild(join(here, "challenge-gateway.ts"), [network.file, upstream]);
    cleanups.push(() => stopChild(challengeGateway.child));
    const ourChallenges = challengeGateway.line;
    const alice = lndClient(network.info.nodes.alice, "invoice");
    const rateOf = async (url: string) =>
      (await load(loadgen, { url, connections, seconds, method: "GET", expectStatus: 402 })).rps;
    challengeRates.push(
      { label: "Aperture v0.5.0 402 challenges", measure: () => rateOf(`${aperture.url}/v1/completions`) },
      { label: "this gateway's 402 challenges", measure: () => rateOf(`${ourChallenges}/v1/completions`) },
      { label: OPERATOR_CHALLENGES, measure: () => rateOf(`${operator.url}/v1/completions`) },
      {
        label: "raw createInvoice from Node",
        measure: () => invoiceRate(alice, connections, seconds),
      },
    );
  }

  const results = new Map<string, LoadResult[]>(targets.map((target) => [target.label, []]));
  const cpuPerRequest = new Map<string, number[]>(targets.map((target) => [target.label, []]));
  const measure = (target: Target, c = connections) =>
    load(loadgen, { url: target.url, headers: target.headers, connections: c, seconds });
  /** A round's load on one target, with the proxy's CPU microseconds per request beside it. */
  const measureWithCpu = async (target: Target) => {
    const before = target.pid === undefined ? undefined : processTreeCpuSeconds(target.pid);
    const result = await measure(target);
    const after = target.pid === undefined ? undefined : processTreeCpuSeconds(target.pid);
    if (before !== undefined && after !== undefined) {
      cpuPerRequest.get(target.label)?.push(((after - before) * 1e6) / result.requests);
    }
    return result;
  };
  log("warming up every target");
  for (const target of targets) await measure(target);
  for (let round = 1; round <= rounds; round++) {
    const line: string[] = [];
    for (const target of targets) {
      const result = await measureWithCpu(target);
      results.get(target.label)?.push(result);
      line.push(`${target.label} ${result.rps.toFixed(0)}/s p50 ${result.p50.toFixed(2)} ms`);
    }
    console.log(`round ${round}: ${line.join(" | ")}`);
  }
  const single = new Map<string, number[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      const p50 = (await measure(target, 1)).p50;
      single.set(target.label, [...(single.get(target.label) ?? []), p50]);
    }
  }
  const challenges = new Map<string, number[]>();
  for (let round = 1; round <= rounds && challengeRates.length > 0; round++) {
    for (const { label, measure: rate } of challengeRates) {
      challenges.set(label, [...(challenges.get(label) ?? []), await rate()]);
    }
  }

  const rps = (label: string) => median((results.get(label) ?? []).map((result) => result.rps));
  const p50 = (label: string) => median((results.get(label) ?? []).map((result) => result.p50));
  console.log(`\nmedians of ${rounds} rounds, ${connections} connections, ${seconds} s each:`);
  const cpu = (label: string) => median(cpuPerRequest.get(label) ?? []);
  console.log(
    "| path | req/s | p50 (ms) | p50 at 1 connection (ms) | proxy CPU per request (µs) |\n| --- | --- | --- | --- | --- |",
  );
  for (const target of targets) {
    const alone = median(single.get(target.label) ?? []);
    const perRequest = Number.isNaN(cpu(target.label)) ? "" : cpu(target.label).toFixed(0);
    console.log(
      `| ${target.label} | ${rps(target.label).toFixed(0)} | ${p50(target.label).toFixed(2)} | ${alone.toFixed(2)} | ${perRequest} |`,
    );
  }
  if (challenges.size > 0) {
    console.log("\n| challenges | per second |\n| --- | --- |");
    for (const [label, rates] of challenges) console.log(`| ${label} | ${median(rates).toFixed(0)} |`);
  }
  const apertureLabel = "Aperture v0.5.0, paid token";
  const direct = median(single.get("upstream direct") ?? []);
  const oursAlone = median(single.get("this gateway, paid token") ?? []);
  const setups = [
    { name: "in-process", paid: "this gateway, paid token", free: "this gateway, free path" },
    ...(results.has(OPERATOR_PAID) ? [{ name: "operator", paid: OPERATOR_PAID, free: OPERATOR_FREE }] : []),
  ];
  const challengeRate = (label: string) => median(challenges.get(label) ?? []);
  const floor = rps(FLOOR);
  console.log("\nratios:");
  console.log("  floor (bare Node proxy, no auth, no logging):");
  if (results.has(apertureLabel)) {
    console.log(`    floor / Aperture paid:          ${(floor / rps(apertureLabel)).toFixed(2)}x`);
    console.log(`    CPU per request, Aperture paid / floor: ${(cpu(apertureLabel) / cpu(FLOOR)).toFixed(2)}x`);
  }
  console.log(`    CPU per request:                ${cpu(FLOOR).toFixed(0)} µs`);
  for (const { name, paid, free } of setups) {
    const addedP50 = median(single.get(paid) ?? []) - direct;
    console.log(`  ${name} set-up:`);
    if (results.has(apertureLabel)) {
      const aperture = rps(apertureLabel);
      console.log(`    paid / Aperture paid:           ${(rps(paid) / aperture).toFixed(2)}x (target ≥ 2)`);
      console.log(`    free / Aperture paid:           ${(rps(free) / aperture).toFixed(2)}x (target ≥ 3)`);
      const cpuRatio = (label: string) => (cpu(apertureLabel) / cpu(label)).toFixed(2);
      console.log(`    CPU per request, Aperture paid / paid: ${cpuRatio(paid)}x, / free: ${cpuRatio(free)}x`);
    }
    console.log(`    paid / floor:                   ${(rps(paid) / floor).toFixed(2)}x`);
    console.log(`    free / floor:                   ${(rps(free) / floor).toFixed(2)}x`);
    const perRequest = (label: string) =>
      `${cpu(label).toFixed(0)} µs (${(cpu(label) / cpu(FLOOR)).toFixed(2)}x the floor's)`;
    console.log(`    CPU per request, paid:          ${perRequest(paid)}`);
    console.log(`    CPU per request, free:          ${perRequest(free)}`);
    console.log(`    paid / upstream direct:         ${(rps(paid) / rps("upstream direct")).toFixed(3)}x`);
    console.log(`    added p50 at one connection:    ${addedP50.toFixed(2)} ms (target ≤ 0.5)`);
  }
  if (challenges.size > 0) {
    const theirs = challengeRate("Aperture v0.5.0 402 challenges");
    const ratio = (label: string) => (challengeRate(label) / theirs).toFixed(2);
    console.log(
      `  challenges / Aperture's: in-process ${ratio("this gateway's 402 challenges")}x, operator ${ratio(OPERATOR_CHALLENGES)}x (target ≥ 1.5)`,
    );
  }
  if (baseline !== undefined) {
    const baseAlone = median(single.get(BASE_PAID) ?? []);
    const ratio = (ours: string, base: string) => (rps(ours) / rps(base)).toFixed(3);
    console.log(`  paid, this gateway / baseline:        ${ratio("this gateway, paid token", BASE_PAID)}x`);
    console.log(`  free, this gateway / baseline:        ${ratio("this gateway, free path", BASE_FREE)}x`);
    console.log(
      `  added p50 at one connection, paid: this ${(oursAlone - direct).toFixed(2)} ms, baseline ${(baseAlone - direct).toFixed(2)} ms`,
    );
    if (results.has(BASE_OPERATOR_PAID)) {
      const cpuRatio = (ours: string, base: string) => (cpu(ours) / cpu(base)).toFixed(3);
      console.log(`  operator paid, this / baseline:       ${ratio(OPERATOR_PAID, BASE_OPERATOR_PAID)}x`);
      console.log(`  operator free, this / baseline:       ${ratio(OPERATOR_FREE, BASE_OPERATOR_FREE)}x`);
      console.log(
        `  operator CPU per request, this / baseline: paid ${cpuRatio(OPERATOR_PAID, BASE_OPERATOR_PAID)}, free ${cpuRatio(OPERATOR_FREE, BASE_OPERATOR_FREE)}`,
      );
    }
  }
}

try {
  await run();
} finally {
  await stopAll();
}
for (const [name, dir] of [
  ["in-process", profileDir],
  ["operator", operatorProfileDir],
] as const) {
  const [file] = dir ? readdirSync(dir) : [];
  if (dir && file) {
    console.log(`\n${name} set-up (${join(dir, file)}):`);
    console.log(summariseProfile(JSON.parse(readFileSync(join(dir, file), "utf8"))));
  }
}
