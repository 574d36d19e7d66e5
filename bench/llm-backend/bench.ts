/**
 * Tokens/s of llm-backend over HTTP against node-llama-cpp called in-process on the same model and settings:
 * one stream, then N parallel sequences, printed side by side with the HTTP/in-process ratio. Both sides stay loaded
 * and are measured round by round in alternating order; the CPU used by other processes is reported per measurement.
 *
 *   npm run bench:llm -- [--model PATH] [--shape tiny|1b|8b] [--parallel N] [--max-tokens N]
 *                        [--rounds N] [--threads N] [--gpu auto|cuda|vulkan|false] [--context-size N]
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
import { getLlama, LlamaChat } from "node-llama-cpp";
import { defaultModelPath } from "../../llm-backend/src/inference/default-model.js";
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
}

async function measure(serverPid: number | undefined, run: () => Promise<number[]>): Promise<Run> {
  const before = cpuSample(serverPid);
  const measurement = await timed(run);
  return { measurement, cpu: cpuShares(before, cpuSample(serverPid)) };
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

async function main(): Promise<void> {
  let modelPath = values.model ?? defaultModelPath();
  if (values.shape) {
    if (!(values.shape in SHAPES))
      throw new Error(`unknown --shape ${values.shape}; one of ${Object.keys(SHAPES).join(", ")}`);
    modelPath = await ensureRandomModel(values.shape as ShapeName, (message) => console.log(`[bench] ${message}`));
  }
  console.log(
    `[bench] model ${modelPath}\n[bench] parallel ${parallel}, max_tokens ${maxTokens}, rounds ${rounds}, threads ${threads}, gpu ${values.gpu}`,
  );
  // Both sides are loaded at once (the weights are mmapped, so shared) and measured in alternating order, round by
  // round: background load or clock drift then hits both alike instead of whichever side happened to run second.
  const inProcess = await loadInProcess(modelPath);
  const { url, child } = await startServerProcess(modelPath);
  try {
    const http = await connectHttp(url);
    const sides = { inProcess: { single: [], parallel: [] } as Side, http: { single: [], parallel: [] } as Side };
    await inProcess.generate(0, "Hello.");
    await http(0, "Hello.");
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (["inProcess", "http"] as const) : (["http", "inProcess"] as const);
      for (const side of order) {
        const generate = side === "http" ? http : inProcess.generate;
        sides[side].single.push(await measure(child.pid, single(generate, round)));
      }
      for (const side of order) {
        const generate = side === "http" ? http : inProcess.generate;
        sides[side].parallel.push(await measure(child.pid, fanOut(generate, round)));
      }
    }
    report(inProcess.gpu, sides);
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolveExit) => child.once("exit", resolveExit));
    await inProcess.dispose();
  }
}

function report(backend: string, sides: { inProcess: Side; http: Side }): void {
  const row = (label: string, a: Run[], b: Run[]) => {
    const total = (runs: Run[]) => rate(sum(runs.map((run) => run.measurement)));
    const ratios = a.map((run, i) => {
      const other = b[i];
      return other ? rate(other.measurement) / rate(run.measurement) : Number.NaN;
    });
    return [
      label.padEnd(22),
      total(a).toFixed(1).padStart(10),
      total(b).toFixed(1).padStart(10),
      (total(b) / total(a)).toFixed(3).padStart(8),
      median(ratios).toFixed(3).padStart(13),
      `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`.padStart(12),
    ].join(" ");
  };
  const { inProcess, http } = sides;
  console.log(`\nbackend: ${backend}`);
  console.log(
    `${"tokens/s".padEnd(22)} ${"in-process".padStart(10)} ${"HTTP".padStart(10)} ${"ratio".padStart(8)} ${"median ratio".padStart(13)} ${"per round".padStart(12)}`,
  );
  console.log(row("single stream", inProcess.single, http.single));
  console.log(row(`${parallel} parallel (aggregate)`, inProcess.parallel, http.parallel));
  const speedUp = (side: Side) =>
    rate(sum(side.parallel.map((run) => run.measurement))) / rate(sum(side.single.map((run) => run.measurement)));
  console.log(`\nparallel speed-up: in-process ${speedUp(inProcess).toFixed(2)}x, HTTP ${speedUp(http).toFixed(2)}x`);

  const cpuRows: [string, CpuShares | null][] = [
    ["in-process single", meanCpu(inProcess.single)],
    ["HTTP single", meanCpu(http.single)],
    [`in-process ${parallel} parallel`, meanCpu(inProcess.parallel)],
    [`HTTP ${parallel} parallel`, meanCpu(http.parallel)],
  ];
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
  const perRoundOther = [...inProcess.single, ...http.single, ...inProcess.parallel, ...http.parallel].map(
    (run) => run.cpu?.other ?? 0,
  );
  const busiest = Math.max(...perRoundOther);
  if (busiest > 0.05) {
    console.log(
      `\nWARNING: other processes used up to ${percent(busiest)} of the CPU during a measurement (mean up to ${percent(worstOther)}). ` +
        `With ${threads} llama.cpp threads on ${availableParallelism()} cores any other load slows decoding disproportionately, ` +
        "so these figures are noisy; compare the median per-round ratio, or rerun on an idle machine.",
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
