/**
 * Where the gateway's CPU goes as operators run it (bench/gateway/operator-gateway.ts: the CLI, a SQLite file, the
 * regtest LND), one request path at a time, beside the floor (bench/gateway/floor-proxy.ts: a bare Node proxy).
 *
 * Profiles (default): a fresh process per path under `node --cpu-prof`, loaded for `--seconds` by the Go load
 * generator, then stopped so that node writes its profile; prints each path's top functions by self time (samples
 * while the load ran only) and its CPU per request.
 *
 * `--baseline DIR` (another checkout, built; or several, comma-separated) instead compares: this checkout's and DIR's
 * CLI side by side, and the floor, in `--rounds` rounds without profiling, every other one in reverse order; prints
 * each one's median CPU per request and rate, and this checkout's against the baseline's (the median of the rounds'
 * ratios, and the ratio of the medians). CPU per request is what other load on a shared machine skews least.
 *
 *   tsx bench/gateway/profile-operator.ts [--seconds 10] [--connections 16] [--paths paid,free,floor]
 *                                         [--interval-us 200] [--top 25] [--baseline DIR --rounds 5]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startNetwork } from "../../test/regtest/network.js";
import { startChild } from "../support/closed-loop.js";
import { goTool } from "../support/go-tools.js";
import { type LoadOptions, load } from "../support/loadgen.js";
import { median } from "../support/median.js";
import { processTreeCpuSeconds } from "../support/process-cpu.js";
import { summariseProfile } from "../support/profile.js";
import { startOperatorGateway } from "./operator-gateway.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "16" },
    paths: { type: "string", default: "paid,free,floor" },
    "interval-us": { type: "string", default: "200" },
    top: { type: "string", default: "25" },
    baseline: { type: "string" },
    rounds: { type: "string", default: "5" },
  },
});
const log = (line: string) => process.stderr.write(`[profile] ${line}\n`);
const paths = (values.paths ?? "").split(",").filter((path) => ["paid", "free", "floor"].includes(path));
const connections = Number(values.connections);
const seconds = Number(values.seconds);

const loadgen = await goTool("loadgen");
const upstreamProcess = spawn(await goTool("upstream"), [], { stdio: ["ignore", "pipe", "inherit"] });
const [chunk] = (await once(upstreamProcess.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
const upstream = chunk.toString().trim().split("\n")[0] ?? "";
const network = await startNetwork({ log: (line) => log(`regtest: ${line}`) });

interface Started {
  readonly child: ChildProcess;
  readonly target: Omit<LoadOptions, "connections" | "seconds">;
}

/** The floor proxy, or a fresh operator gateway of `checkout`, and the target its path is loaded on. */
async function start(path: string, nodeArgs: string[], checkout?: string): Promise<Started> {
  if (path === "floor") {
    const floor = await startChild(join(import.meta.dirname, "floor-proxy.ts"), [upstream], {}, nodeArgs);
    return { child: floor.child, target: { url: `${floor.line}/v1/completions` } };
  }
  const operator = await startOperatorGateway({ network: network.info, upstream, nodeArgs, checkout });
  const target =
    path === "paid"
      ? { url: `${operator.url}/v1/completions`, headers: { authorization: operator.authorization } }
      : { url: `${operator.url}/v1/free` };
  return { child: operator.child, target };
}

async function stop({ child }: Started): Promise<void> {
  if (child.exitCode !== null) return;
  // SIGINT for the floor, SIGTERM for the CLI: each then exits normally, so that node writes its profile.
  child.kill(child.spawnargs.includes("--import") ? "SIGINT" : "SIGTERM");
  await once(child, "exit");
}

/** One load run with the process's CPU microseconds per request beside it. */
async function measure(started: Started, forSeconds: number) {
  const pid = started.child.pid as number;
  const before = processTreeCpuSeconds(pid) ?? 0;
  const result = await load(loadgen, { ...started.target, connections, seconds: forSeconds });
  const cpu = (((processTreeCpuSeconds(pid) ?? 0) - before) * 1e6) / result.requests;
  return { rps: result.rps, cpu };
}

async function profiles(): Promise<void> {
  for (const path of paths) {
    const dir = mkdtempSync(join(tmpdir(), `operator-profile-${path}-`));
    const started = await start(path, [
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      `--cpu-prof-interval=${values["interval-us"]}`,
    ]);
    await measure(started, 1);
    // The profile's clock is the monotonic one that hrtime reads: samples before the load (the start) are left out.
    const from = Number(process.hrtime.bigint() / 1000n);
    const { rps, cpu } = await measure(started, seconds);
    const to = Number(process.hrtime.bigint() / 1000n);
    await stop(started);
    const [file] = readdirSync(dir);
    console.log(
      `\n${path} path: ${rps.toFixed(0)} req/s, CPU ${cpu.toFixed(0)} µs per request (${join(dir, file ?? "")})`,
    );
    if (file) {
      const profile = JSON.parse(readFileSync(join(dir, file), "utf8"));
      console.log(summariseProfile(profile, Number(values.top), { from, to }));
    }
  }
}

/** `baseline` may list several checkouts (comma-separated): the first is "baseline", the others go by their path. */
async function compare(baseline: string): Promise<void> {
  const [first, ...others] = baseline.split(",");
  const checkouts = [{ name: "baseline", dir: first ?? "" }, ...others.map((dir) => ({ name: dir, dir }))];
  const setups: { label: string; started: Started }[] = [];
  for (const path of paths) {
    setups.push({ label: `this ${path}`, started: await start(path, []) });
    if (path === "floor") continue;
    for (const { name, dir } of checkouts)
      setups.push({ label: `${name} ${path}`, started: await start(path, [], dir) });
  }
  const figures = new Map<string, { rps: number[]; cpu: number[] }>();
  for (const { label, started } of setups) {
    await measure(started, 1);
    figures.set(label, { rps: [], cpu: [] });
  }
  for (let round = 1; round <= Number(values.rounds); round++) {
    // Every other round in reverse order, so that neither side always runs first.
    for (const { label, started } of round % 2 === 0 ? [...setups].reverse() : setups) {
      const { rps, cpu } = await measure(started, seconds);
      figures.get(label)?.rps.push(rps);
      figures.get(label)?.cpu.push(cpu);
    }
    const line = setups.map(({ label }) => {
      const { rps, cpu } = figures.get(label) ?? { rps: [], cpu: [] };
      return `${label} ${(rps.at(-1) ?? 0).toFixed(0)}/s ${(cpu.at(-1) ?? 0).toFixed(0)} µs`;
    });
    console.log(`round ${round}: ${line.join(" | ")}`);
  }
  for (const { started } of setups) await stop(started);
  const cpuOf = (label: string) => median(figures.get(label)?.cpu ?? []);
  const rpsOf = (label: string) => median(figures.get(label)?.rps ?? []);
  console.log(`\nmedians of ${values.rounds} rounds, ${connections} connections, ${seconds} s each:`);
  console.log("| set-up | req/s | CPU per request (µs) |\n| --- | --- | --- |");
  for (const { label } of setups) console.log(`| ${label} | ${rpsOf(label).toFixed(0)} | ${cpuOf(label).toFixed(0)} |`);
  // Ratios within each round first: a round's other load slows both sides of it alike.
  const pairedRatio = (ours: number[], base: number[]) =>
    median(ours.map((value, round) => value / (base[round] ?? 0)));
  for (const path of paths.filter((path) => path !== "floor")) {
    const ours = figures.get(`this ${path}`) ?? { rps: [], cpu: [] };
    for (const { name } of checkouts) {
      const base = figures.get(`${name} ${path}`) ?? { rps: [], cpu: [] };
      console.log(
        `${path}: this / ${name}, median of the rounds' ratios: CPU per request ${pairedRatio(ours.cpu, base.cpu).toFixed(3)}, req/s ${pairedRatio(ours.rps, base.rps).toFixed(3)} (ratio of medians: ${(median(ours.cpu) / median(base.cpu)).toFixed(3)}, ${(median(ours.rps) / median(base.rps)).toFixed(3)})`,
      );
    }
  }
}

try {
  if (values.baseline === undefined) await profiles();
  else await compare(values.baseline);
} finally {
  upstreamProcess.kill();
  await network.stop();
}
