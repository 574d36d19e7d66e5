/**
 * Tokens/s of llm-backend over HTTP against node-llama-cpp called in-process on the same model and settings:
 * one stream, then N parallel sequences, printed side by side with the HTTP/in-process ratio.
 *
 *   npm run bench:llm -- [--model PATH] [--shape tiny|1b|8b] [--parallel N] [--max-tokens N]
 *                        [--rounds N] [--threads N] [--gpu auto|cuda|vulkan|false] [--context-size N]
 *
 * --shape writes (once, into the model cache) a random-weight GGUF of that llama shape with the default model's
 * tokenizer, so larger shapes can be measured offline; speed does not depend on the weight values.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaChat } from "node-llama-cpp";
import { defaultModelPath } from "../../llm-backend/src/default-model.js";
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
    rounds: { type: "string", default: "2" },
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

async function benchInProcess(modelPath: string): Promise<{ single: Measurement; parallel: Measurement; gpu: string }> {
  const llama = await getLlama({ build: "never", gpu, maxThreads: threads });
  try {
    const model = await llama.loadModel({ modelPath });
    const context = await model.createContext({ sequences: parallel, contextSize, threads });
    const chats = Array.from({ length: parallel }, () => new LlamaChat({ contextSequence: context.getSequence() }));
    const generate = async (chat: LlamaChat, prompt: string) => {
      const sequence = chat.sequence;
      const before = sequence.tokenMeter.getState();
      await chat.generateResponse(
        [
          { type: "user", text: prompt },
          { type: "model", response: [] },
        ],
        {
          maxTokens,
          temperature: 0,
        },
      );
      return sequence.tokenMeter.diff(before).usedOutputTokens;
    };
    const [first] = chats;
    if (!first) throw new Error("no sequences");
    await generate(first, "Hello.");
    const singles: Measurement[] = [];
    const parallels: Measurement[] = [];
    for (let round = 0; round < rounds; round++) {
      singles.push(await timed(async () => [await generate(first, promptFor(0, round))]));
      parallels.push(await timed(() => Promise.all(chats.map((chat, i) => generate(chat, promptFor(i, round))))));
    }
    return { single: sum(singles), parallel: sum(parallels), gpu: llama.gpu === false ? "cpu" : llama.gpu };
  } finally {
    await llama.dispose();
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

async function benchHttp(modelPath: string): Promise<{ single: Measurement; parallel: Measurement }> {
  const { url, child } = await startServerProcess(modelPath);
  try {
    const modelId = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data[0]?.id;
    const generate = async (prompt: string) => {
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
    await generate("Hello.");
    const singles: Measurement[] = [];
    const parallels: Measurement[] = [];
    for (let round = 0; round < rounds; round++) {
      singles.push(await timed(async () => [await generate(promptFor(0, round))]));
      parallels.push(
        await timed(() => Promise.all(Array.from({ length: parallel }, (_, i) => generate(promptFor(i, round))))),
      );
    }
    return { single: sum(singles), parallel: sum(parallels) };
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolveExit) => child.once("exit", resolveExit));
  }
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
  const inProcess = await benchInProcess(modelPath);
  const http = await benchHttp(modelPath);
  const row = (label: string, a: Measurement, b: Measurement) =>
    `${label.padEnd(22)} ${rate(a).toFixed(1).padStart(10)} ${rate(b).toFixed(1).padStart(10)} ${(rate(b) / rate(a)).toFixed(3).padStart(8)}`;
  console.log(`\nbackend: ${inProcess.gpu}`);
  console.log(`${"tokens/s".padEnd(22)} ${"in-process".padStart(10)} ${"HTTP".padStart(10)} ${"ratio".padStart(8)}`);
  console.log(row("single stream", inProcess.single, http.single));
  console.log(row(`${parallel} parallel (aggregate)`, inProcess.parallel, http.parallel));
  console.log(
    `\nparallel speed-up: in-process ${(rate(inProcess.parallel) / rate(inProcess.single)).toFixed(2)}x, HTTP ${(rate(http.parallel) / rate(http.single)).toFixed(2)}x`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
