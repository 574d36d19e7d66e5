/**
 * Generated tokens/s of llm-backend over HTTP against node-llama-cpp called in-process and against llama.cpp's own
 * `llama-server` (built from source on first use: test/tools/llama-server.ts), on the same model, prompts, max_tokens,
 * sampling (greedy) and thread count: one stream, then N parallel sequences, printed side by side with the ratios.
 * The `floor` side drives node-llama-cpp's lowest-level generation loop (`LlamaContextSequence.evaluate`, greedy, with
 * the backend's batch alignment) in-process: the most node-llama-cpp allows, so the report can say whether a missed
 * goal is lost in our layers (chat, HTTP) or in node-llama-cpp itself.
 * All sides stay loaded and are measured round by round in rotating order, so background load hits each alike; the CPU
 * used by other processes is reported per measurement.
 *
 *   npm run bench:llm -- [--model PATH] [--shape tiny|1b|8b] [--parallel N] [--max-tokens N]
 *                        [--rounds N] [--threads N] [--gpu auto|cuda|vulkan|false] [--context-size N]
 *                        [--sides floor,in-process,http,llama-server]
 *
 * --shape writes (once, into the model cache) a random-weight GGUF of that llama shape with the default model's
 * tokenizer, so larger shapes can be measured offline; speed does not depend on the weight values.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaChat, type LlamaContextSequence, type LlamaModel, type Token } from "node-llama-cpp";
import { alignBatches } from "../../llm-backend/src/inference/batch-alignment.js";
import { defaultModelPath } from "../../llm-backend/src/inference/default-model.js";
import { startLlamaServer } from "../../test/support/llama-server.js";
import { ensureRandomModel, SHAPES, type ShapeName } from "./random-gguf.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

const PROMPTS = [
  "Write a very long story about a dragon who lives in the mountains.",
  "Write a long poem about the sea at night.",
  "Explain in detail how rain forms and falls.",
  "Tell a long story about a robot who learns to paint.",
  "Describe a busy market in a medieval town.",
  "Write a long letter to a friend about a journey by train.",
  "Explain how a bicycle works, part by part.",
  "Tell a story about a lighthouse keeper and a storm.",
];

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    shape: { type: "string" },
    parallel: { type: "string", default: "4" },
    "max-tokens": { type: "string", default: "64" },
    rounds: { type: "string", default: "8" },
    threads: { type: "string", default: String(availableParallelism()) },
    gpu: { type: "string", default: "auto" },
    "context-size": { type: "string", default: "1024" },
    sides: { type: "string", default: "floor,in-process,http,llama-server" },
  },
});

const parallel = Number(values.parallel);
const maxTokens = Number(values["max-tokens"]);
const rounds = Number(values.rounds);
const threads = Number(values.threads);
const contextSize = Number(values["context-size"]);
const gpu = values.gpu === "false" ? false : (values.gpu as "auto" | "cuda" | "vulkan");

function promptFor(index: number, round: number): string {
  return `${PROMPTS[index % PROMPTS.length]} (variation ${round}.${index})`;
}

interface Measurement {
  tokens: number;
  seconds: number;
}

const rate = (m: Measurement) => m.tokens / m.seconds;

async function timed(run: () => Promise<number[]>): Promise<Measurement> {
  const started = performance.now();
  const counts = await run();
  return { tokens: counts.reduce((sum, count) => sum + count, 0), seconds: (performance.now() - started) / 1000 };
}

function sum(measurements: Measurement[]): Measurement {
  return measurements.reduce((a, b) => ({ tokens: a.tokens + b.tokens, seconds: a.seconds + b.seconds }), {
    tokens: 0,
    seconds: 0,
  });
}

/** A way to generate: one completion, resolving to the number of tokens generated. */
type Generate = (index: number, prompt: string) => Promise<number>;

async function loadInProcess(
  modelPath: string,
): Promise<{ generate: Generate; gpu: string; dispose(): Promise<void> }> {
  const llama = await getLlama({ build: "never", gpu, maxThreads: threads });
  try {
    const model = await llama.loadModel({ modelPath });
    const context = await model.createContext({ sequences: parallel, contextSize, threads });
    const chats = Array.from({ length: parallel }, () => new LlamaChat({ contextSequence: context.getSequence() }));
    const generate: Generate = async (index, prompt) => {
      const chat = chats[index];
      if (!chat) throw new Error(`no sequence ${index}`);
      const before = chat.sequence.tokenMeter.getState();
      // The same history the server builds from one user message, and the same sampling (greedy).
      await chat.generateResponse(
        [
          { type: "user", text: prompt },
          { type: "model", response: [] },
        ],
        { maxTokens, temperature: 0 },
      );
      return chat.sequence.tokenMeter.diff(before).usedOutputTokens;
    };
    return { generate, gpu: llama.gpu === false ? "cpu" : llama.gpu, dispose: () => llama.dispose() };
  } catch (error) {
    await llama.dispose();
    throw error;
  }
}

/** Erases what the sequence holds past the prompt's cached prefix, as LlamaChat does, and returns the rest to evaluate. */
async function reusePrefix(sequence: LlamaContextSequence, tokens: Token[]): Promise<Token[]> {
  const held = sequence.contextTokens;
  let prefix = 0;
  while (prefix < Math.min(held.length, tokens.length - 1) && held[prefix] === tokens[prefix]) prefix++;
  if (prefix < held.length) await sequence.eraseContextTokenRanges([{ start: prefix, end: held.length }]);
  return tokens.slice(prefix);
}

/** node-llama-cpp's lowest-level loop: the chat-rendered prompt's tokens, then one greedy token per evaluation. */
async function loadFloor(modelPath: string): Promise<{ generate: Generate; gpu: string; dispose(): Promise<void> }> {
  const llama = await getLlama({ build: "never", gpu, maxThreads: threads });
  try {
    const model: LlamaModel = await llama.loadModel({ modelPath });
    const context = await model.createContext({ sequences: parallel, contextSize, threads });
    const sequences = Array.from({ length: parallel }, () => {
      const sequence = context.getSequence();
      alignBatches(sequence);
      return sequence;
    });
    const { chatWrapper } = new LlamaChat({
      contextSequence: sequences[0] as LlamaContextSequence,
      autoDisposeSequence: false,
    });
    const generate: Generate = async (index, prompt) => {
      const sequence = sequences[index];
      if (!sequence) throw new Error(`no sequence ${index}`);
      const { contextText } = chatWrapper.generateContextState({
        chatHistory: [
          { type: "user", text: prompt },
          { type: "model", response: [] },
        ],
      });
      let generated = 0;
      for await (const _token of sequence.evaluate(await reusePrefix(sequence, contextText.tokenize(model.tokenizer)), {
        temperature: 0,
      })) {
        if (++generated >= maxTokens) break;
      }
      return generated;
    };
    return { generate, gpu: llama.gpu === false ? "cpu" : llama.gpu, dispose: () => llama.dispose() };
  } catch (error) {
    await llama.dispose();
    throw error;
  }
}

/** The built server runs as its own process, as deployed, so the client's work does not share its event loop. */
async function startServerProcess(modelPath: string): Promise<{ url: string; child: ChildProcess }> {
  const args = [
    join(REPO_ROOT, "llm-backend/dist/cli.js"),
    ...["--model", modelPath, "--port", "0", "--parallel", String(parallel), "--context-size", String(contextSize)],
    ...["--threads", String(threads), "--gpu", String(values.gpu), "--log-level", "info"],
  ];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let buffer = "";
    let listening: string | undefined;
    child.stdout?.on("data", (data: Buffer) => {
      buffer += data.toString();
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        try {
          const record = JSON.parse(line) as { msg?: string; url?: string };
          if (record.msg?.startsWith("listening")) listening = record.url;
          if (record.msg === "ready" && listening) resolveUrl(listening);
        } catch {
          // not a log record
        }
      }
    });
    child.once("exit", (code) => reject(new Error(`server exited early with code ${code}`)));
  });
  child.stdout?.resume();
  return { url, child };
}

async function connectHttp(url: string): Promise<Generate> {
  const modelId = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data[0]?.id;
  return async (_index, prompt) => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: modelId,
        messages: [{ role: "user", content: prompt }],
        max_tokens: maxTokens,
        temperature: 0,
      }),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens;
  };
}

/**
 * CPU accounting over a measurement (Linux /proc; null elsewhere): the share of all cores busy, and how much of that
 * was neither this process nor the server. On 2 cores llama.cpp's threads spin at barriers, so any other busy process
 * slows decoding far more than its own CPU share; a measurement with other load is not comparable.
 */
interface CpuSample {
  total: number;
  idle: number;
  self: number;
  server: number;
}

const CLOCK_TICKS_PER_SECOND = 100;

function cpuSample(serverPid: number | undefined): CpuSample | null {
  try {
    const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const usage = process.cpuUsage();
    let server = 0;
    if (serverPid !== undefined) {
      const stat = readFileSync(`/proc/${serverPid}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      server = Number(rest[11]) + Number(rest[12]);
    }
    return { total, idle, self: ((usage.user + usage.system) / 1e6) * CLOCK_TICKS_PER_SECOND, server };
  } catch {
    return null;
  }
}

interface CpuShares {
  /** Fraction of all cores' time, over the measurement. */
  self: number;
  server: number;
  other: number;
}

function cpuShares(before: CpuSample | null, after: CpuSample | null): CpuShares | null {
  if (!before || !after) return null;
  const total = after.total - before.total;
  if (total <= 0) return null;
  const busy = total - (after.idle - before.idle);
  const self = after.self - before.self;
  const server = after.server - before.server;
  return { self: self / total, server: server / total, other: Math.max(0, busy - self - server) / total };
}

interface Run {
  measurement: Measurement;
  cpu: CpuShares | null;
  /**
   * CPU seconds that this process and the server spent on the measurement. Per generated token it shows how much work
   * each side does, which other load on a shared machine skews far less than tokens/s (exactly so with one thread).
   */
  cpuSeconds: number | null;
}

async function measure(serverPid: number | undefined, run: () => Promise<number[]>): Promise<Run> {
  const before = cpuSample(serverPid);
  const measurement = await timed(run);
  const after = cpuSample(serverPid);
  const cpuSeconds =
    before && after ? (after.self - before.self + after.server - before.server) / CLOCK_TICKS_PER_SECOND : null;
  return { measurement, cpu: cpuShares(before, after), cpuSeconds };
}

/** CPU milliseconds per generated token over a side's runs, or null without /proc. */
function cpuMsPerToken(runs: Run[]): number | null {
  if (runs.some((run) => run.cpuSeconds === null)) return null;
  const seconds = runs.reduce((total, run) => total + (run.cpuSeconds ?? 0), 0);
  const tokens = runs.reduce((total, run) => total + run.measurement.tokens, 0);
  return tokens > 0 ? (seconds * 1000) / tokens : null;
}

const single = (generate: Generate, round: number) => async () => [await generate(0, promptFor(0, round))];
const fanOut = (generate: Generate, round: number) => () =>
  Promise.all(Array.from({ length: parallel }, (_, i) => generate(i, promptFor(i, round))));

interface Side {
  single: Run[];
  parallel: Run[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const percent = (share: number) => `${(share * 100).toFixed(0)}%`;

function meanCpu(runs: Run[]): CpuShares | null {
  const known = runs.flatMap((run) => (run.cpu ? [run.cpu] : []));
  if (known.length === 0) return null;
  const mean = (pick: (cpu: CpuShares) => number) => known.reduce((sum, cpu) => sum + pick(cpu), 0) / known.length;
  return { self: mean((c) => c.self), server: mean((c) => c.server), other: mean((c) => c.other) };
}

type SideName = "floor" | "in-process" | "http" | "llama-server";
const SIDE_NAMES: readonly SideName[] = ["floor", "in-process", "http", "llama-server"];
const SIDE_LABELS: Record<SideName, string> = {
  floor: "floor",
  "in-process": "in-process",
  http: "HTTP",
  "llama-server": "llama-server",
};

/** A loaded side: how it generates, the pid whose CPU counts as "server" (none in-process), how it is unloaded. */
interface Contender {
  readonly name: SideName;
  readonly generate: Generate;
  readonly pid: number | undefined;
  readonly dispose: () => Promise<void>;
}

function chosenSides(): SideName[] {
  const names = (values.sides ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!SIDE_NAMES.includes(name as SideName))
      throw new Error(`unknown side ${name}; sides: ${SIDE_NAMES.join(", ")}`);
  }
  if (names.length === 0) throw new Error("--sides names no side");
  return names as SideName[];
}

async function load(name: SideName, modelPath: string): Promise<Contender & { gpu?: string }> {
  if (name === "floor") {
    const floor = await loadFloor(modelPath);
    return { name, generate: floor.generate, pid: undefined, dispose: floor.dispose, gpu: floor.gpu };
  }
  if (name === "in-process") {
    const inProcess = await loadInProcess(modelPath);
    return { name, generate: inProcess.generate, pid: undefined, dispose: inProcess.dispose, gpu: inProcess.gpu };
  }
  if (name === "http") {
    const { url, child } = await startServerProcess(modelPath);
    const dispose = async () => {
      child.kill("SIGTERM");
      await new Promise((resolveExit) => child.once("exit", resolveExit));
    };
    return { name, generate: await connectHttp(url), pid: child.pid, dispose };
  }
  // llama-server's -c is shared by its slots: each gets the context size our backend gives each sequence.
  const server = await startLlamaServer({
    model: modelPath,
    parallel,
    threads,
    contextSize: contextSize * parallel,
    args: values.gpu === "false" ? ["--n-gpu-layers", "0"] : [],
  });
  console.log(`[bench] llama-server ${server.baseUrl} (pid ${server.pid})`);
  return { name, generate: await connectHttp(server.baseUrl), pid: server.pid, dispose: server.stop };
}

async function main(): Promise<void> {
  let modelPath = values.model ?? defaultModelPath();
  if (values.shape) {
    if (!(values.shape in SHAPES))
      throw new Error(`unknown --shape ${values.shape}; one of ${Object.keys(SHAPES).join(", ")}`);
    modelPath = await ensureRandomModel(values.shape as ShapeName, (message) => console.log(`[bench] ${message}`));
  }
  const names = chosenSides();
  console.log(
    `[bench] model ${modelPath}\n[bench] sides ${names.join(", ")}; parallel ${parallel}, max_tokens ${maxTokens}, rounds ${rounds}, threads ${threads}, gpu ${values.gpu}`,
  );
  // All sides are loaded at once (the weights are mmapped, so shared) and measured in rotating order, round by round:
  // background load or clock drift then hits every side alike instead of whichever side happened to run last.
  const contenders: (Contender & { gpu?: string })[] = [];
  try {
    for (const name of names) contenders.push(await load(name, modelPath));
    const results = new Map<SideName, Side>(names.map((name) => [name, { single: [], parallel: [] }]));
    for (const contender of contenders) await contender.generate(0, "Hello.");
    for (let round = 0; round < rounds; round++) {
      const order = contenders.map((_, i) => contenders[(i + round) % contenders.length] as Contender);
      for (const { name, generate, pid } of order)
        results.get(name)?.single.push(await measure(pid, single(generate, round)));
      for (const { name, generate, pid } of order)
        results.get(name)?.parallel.push(await measure(pid, fanOut(generate, round)));
    }
    report(contenders.find((c) => c.gpu)?.gpu ?? (values.gpu === "false" ? "cpu" : String(values.gpu)), results);
  } finally {
    for (const contender of contenders.reverse()) await contender.dispose();
  }
}

const totalRate = (runs: Run[]) => rate(sum(runs.map((run) => run.measurement)));

/** Each round's ratio of `a` to `b`, the pair measured back to back. */
function roundRatios(a: Run[], b: Run[]): number[] {
  return a.map((run, i) => {
    const other = b[i];
    return other ? rate(run.measurement) / rate(other.measurement) : Number.NaN;
  });
}

/** Ratio of `a` to `b`: over the whole run, and per round (median, range). */
function ratioCells(a: Run[], b: Run[]): string {
  const ratios = roundRatios(a, b);
  return [
    (totalRate(a) / totalRate(b)).toFixed(3).padStart(8),
    median(ratios).toFixed(3).padStart(8),
    `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`.padStart(11),
  ].join(" ");
}

function report(backend: string, results: Map<SideName, Side>): void {
  const names = [...results.keys()];
  const get = (name: SideName) => results.get(name) as Side;
  // Our backend over HTTP against the in-process ceiling and llama.cpp's own server; node-llama-cpp's floor against it.
  const pairs = (
    [
      ["http", "in-process"],
      ["http", "llama-server"],
      ["floor", "llama-server"],
    ] as const
  ).filter(([a, b]) => results.has(a) && results.has(b));
  console.log(`\nbackend: ${backend}; generated tokens/s (completion tokens ÷ wall time, prompt included)`);
  console.log(
    [
      "".padEnd(24),
      ...names.map((name) => SIDE_LABELS[name].padStart(12)),
      ...pairs.map(([a, b]) => `${SIDE_LABELS[a]}/${SIDE_LABELS[b]}: total, median, per round`.padStart(34)),
    ].join(" "),
  );
  for (const [label, pick] of [
    ["single stream", (side: Side) => side.single],
    [`${parallel} parallel (aggregate)`, (side: Side) => side.parallel],
  ] as const) {
    console.log(
      [
        label.padEnd(24),
        ...names.map((name) =>
          totalRate(pick(get(name)))
            .toFixed(1)
            .padStart(12),
        ),
        ...pairs.map(([a, b]) => ratioCells(pick(get(a)), pick(get(b))).padStart(34)),
      ].join(" "),
    );
  }
  const perToken = (runs: Run[]) => {
    const ms = cpuMsPerToken(runs);
    return ms === null ? "n/a" : ms.toFixed(2);
  };
  console.log("\nCPU ms per generated token (this process + the server; less skewed by other load than tokens/s):");
  for (const name of names) {
    console.log(
      `  ${SIDE_LABELS[name].padEnd(14)} single ${perToken(get(name).single).padStart(7)}   ${parallel} parallel ${perToken(get(name).parallel).padStart(7)}`,
    );
  }
  const speedUp = (side: Side) => totalRate(side.parallel) / totalRate(side.single);
  console.log(
    `\nparallel speed-up: ${names.map((name) => `${SIDE_LABELS[name]} ${speedUp(get(name)).toFixed(2)}x`).join(", ")}`,
  );
  reportLimits(results);

  const cpuRows: [string, CpuShares | null][] = names.flatMap((name) => [
    [`${SIDE_LABELS[name]} single`, meanCpu(get(name).single)] as [string, CpuShares | null],
    [`${SIDE_LABELS[name]} ${parallel} parallel`, meanCpu(get(name).parallel)] as [string, CpuShares | null],
  ]);
  if (cpuRows.every(([, cpu]) => cpu === null)) return;
  console.log(
    `\nCPU, share of all ${availableParallelism()} cores: ${"bench process".padStart(13)} ${"server".padStart(7)} ${"other processes".padStart(15)}`,
  );
  let worstOther = 0;
  for (const [label, cpu] of cpuRows) {
    if (!cpu) continue;
    worstOther = Math.max(worstOther, cpu.other);
    console.log(
      `  ${label.padEnd(37)} ${percent(cpu.self).padStart(13)} ${percent(cpu.server).padStart(7)} ${percent(cpu.other).padStart(15)}`,
    );
  }
  const perRoundOther = names
    .flatMap((name) => [...get(name).single, ...get(name).parallel])
    .map((run) => run.cpu?.other ?? 0);
  const busiest = Math.max(...perRoundOther);
  if (busiest > 0.05) {
    console.log(
      `\nWARNING: other processes used up to ${percent(busiest)} of the CPU during a measurement (mean up to ${percent(worstOther)}). ` +
        `With ${threads} llama.cpp threads on ${availableParallelism()} cores any other load slows decoding disproportionately, ` +
        "so these figures are noisy; compare the median per-round ratio, or rerun on an idle machine.",
    );
  }
}

/** The goals of issue 29, as medians of the per-round HTTP/llama-server ratios. */
const GOALS = [
  { label: "single stream", goal: 0.9, pick: (side: Side) => side.single },
  { label: `${parallel} parallel`, goal: 1.0, pick: (side: Side) => side.parallel },
] as const;

/**
 * For each goal our backend misses, where the loss is: the floor (node-llama-cpp's lowest-level loop, in-process)
 * against llama-server is what node-llama-cpp allows at all; our backend against the floor is what our layers cost.
 */
function reportLimits(results: Map<SideName, Side>): void {
  const http = results.get("http");
  const server = results.get("llama-server");
  if (!http || !server) return;
  const floor = results.get("floor");
  console.log("\nGoals (median per-round ratio to llama-server):");
  for (const { label, goal, pick } of GOALS) {
    const ours = median(roundRatios(pick(http), pick(server)));
    const verdict = ours >= goal ? "met" : "missed";
    console.log(`  ${label.padEnd(14)} ours ${ours.toFixed(2)}x (goal ${goal.toFixed(1)}x): ${verdict}`);
    if (ours >= goal || !floor) continue;
    const floorRatio = median(roundRatios(pick(floor), pick(server)));
    const ourShare = median(roundRatios(pick(http), pick(floor)));
    const floorCpu = cpuMsPerToken(pick(floor));
    const serverCpu = cpuMsPerToken(pick(server));
    const cpu =
      floorCpu !== null && serverCpu !== null
        ? `; CPU per token: floor ${floorCpu.toFixed(2)} ms, llama-server ${serverCpu.toFixed(2)} ms`
        : "";
    console.log(
      `    node-llama-cpp's floor reaches ${floorRatio.toFixed(2)}x of llama-server, our backend ${ourShare.toFixed(2)}x of the floor${cpu}`,
    );
    console.log(
      floorRatio < goal
        ? "    limit: node-llama-cpp itself. Each token is a decode and a sampling step on libuv worker threads (two " +
            "hand-offs to and from the event loop), and its prebuilt CPU backend, built without OpenMP, starts its " +
            "threads for every decode and spins at its barriers; llama-server decodes and samples on one thread with " +
            "OpenMP's persistent, yielding threads."
        : "    limit: our layers above node-llama-cpp (LlamaChat's per-token work, HTTP).",
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
