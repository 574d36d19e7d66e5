/**
 * The gateway's cost in front of each inference server it meters: for our llm-backend, llama.cpp's llama-server and
 * Ollama (each started here on the same GGUF, threads, prompt, max_tokens, temperature 0), one stream at a time,
 * the server directly and through the gateway in alternating order, round by round, with the same client code.
 * The gateway runs as operators run it (the CLI, SQLite file store, the regtest LND, metered per token); its
 * credential is a balance prepaid over Lightning, so each request is counted, reserved, charged and refunded.
 * Prints per kind generated tokens/s (gateway ÷ direct, target ≥ 0.97), time to first token (added ms, median and
 * p90, target ≤ 5 ms), what the gateway's prompt count costs (its own TokenCounter against the server, timed
 * alone), and the gateway's CPU per request.
 *
 *   npm run bench:llm-gateway -- [--kinds l402-llm-backend,llama.cpp,ollama] [--rounds 8] [--max-tokens 128]
 *                                [--ttft-rounds 30] [--threads N] [--context-size 2048] [--profile]
 *
 * Each round streams `--max-tokens` tokens both ways; then `--ttft-rounds` pairs of short streams (4 tokens) time
 * the first token again, many times at little cost, for a steadier added-TTFT median.
 *
 * `--profile` records a CPU profile of each gateway (`node --cpu-prof`) and prints where its time went.
 */
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { loadConfigFile } from "@l402-gateway/gateway";
import { TokenCounter } from "../../gateway/src/upstream/token-counter.js";
import { defaultModelPath } from "../../llm-backend/src/inference/default-model.js";
import { startNetwork } from "../../test/regtest/network.js";
import { processTreeCpuSeconds } from "../support/process-cpu.js";
import { startMeteredGateway } from "./metered-gateway.js";
import { meanPhaseMs, scrapePhases } from "./phases.js";
import { gatewayProfiler } from "./profile.js";
import { type KindResult, printResults, type Round } from "./report.js";
import { BENCH_KINDS, type BenchKind, startKind } from "./servers.js";
import { type ChatRequest, type ChatTarget, type StreamTiming, streamChat } from "./stream.js";

const { values } = parseArgs({
  options: {
    kinds: { type: "string", default: BENCH_KINDS.join(",") },
    rounds: { type: "string", default: "8" },
    "max-tokens": { type: "string", default: "128" },
    "ttft-rounds": { type: "string", default: "30" },
    threads: { type: "string", default: String(availableParallelism()) },
    "context-size": { type: "string", default: "2048" },
    model: { type: "string" },
    profile: { type: "boolean", default: false },
  },
});
const rounds = Number(values.rounds);
const maxTokens = Number(values["max-tokens"]);
const ttftRounds = Number(values["ttft-rounds"]);
/** max_tokens of the short streams that time the first token. */
const SHORT_MAX_TOKENS = 4;
const threads = Number(values.threads);
const contextSize = Number(values["context-size"]);
const model = values.model ?? defaultModelPath();
const kinds = (values.kinds ?? "").split(",").map((kind) => kind.trim());
for (const kind of kinds) {
  if (!BENCH_KINDS.includes(kind as BenchKind))
    throw new Error(`unknown kind ${kind}; kinds: ${BENCH_KINDS.join(", ")}`);
}
const PROMPT = "Write a long story about a lighthouse keeper and a storm.";
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/** Everything started so far, stopped in reverse order however the run ends. */
const cleanups: (() => Promise<unknown>)[] = [];
const stopAll = async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
};
process.once("SIGINT", () => void stopAll().then(() => process.exit(130)));

/** Both sides of a round, the direct one first in even rounds, so that drift touches both alike. */
async function alternating<T>(
  round: number,
  direct: () => Promise<T>,
  gateway: () => Promise<T>,
): Promise<{ direct: T; gateway: T }> {
  if (round % 2 === 0) {
    const first = await direct();
    return { direct: first, gateway: await gateway() };
  }
  const first = await gateway();
  return { direct: await direct(), gateway: first };
}

/** Runs `call` and measures the gateway process's CPU meanwhile. */
async function withGatewayCpu(pid: number, call: () => Promise<StreamTiming>) {
  const cpuBefore = processTreeCpuSeconds(pid);
  const timing = await call();
  const cpuAfter = processTreeCpuSeconds(pid);
  const cpuMs = cpuBefore === undefined || cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore) * 1000;
  return { timing, cpuMs };
}

const describe = (side: { timing: StreamTiming; cpuMs: number | undefined }) =>
  `${side.timing.tokens} tokens in ${side.timing.totalMs.toFixed(0)} ms, ttft ${side.timing.ttftMs.toFixed(1)} ms, ` +
  `gateway CPU ${side.cpuMs?.toFixed(0) ?? "n/a"} ms`;

async function measureKind(network: Awaited<ReturnType<typeof startNetwork>>, kind: BenchKind): Promise<KindResult> {
  log(`${kind}: starting the server (${threads} threads) and the gateway in front of it`);
  const server = await startKind(kind, { model, threads, contextSize });
  cleanups.push(() => server.stop());
  const profile = gatewayProfiler(values.profile, kind);
  const gateway = await startMeteredGateway({
    network: network.info,
    kind,
    upstream: server.baseUrl,
    model: server.model,
    maxTokensCap: maxTokens,
    nodeArgs: profile.nodeArgs,
  });
  // SIGINT: the CLI closes the gateway and exits normally, so node writes its CPU profile.
  const stopGateway = () => gateway.process.kill("SIGINT");
  cleanups.push(stopGateway);
  const request: ChatRequest = { model: server.model, prompt: PROMPT, maxTokens };
  const direct: ChatTarget = { url: server.baseUrl };
  const through: ChatTarget = { url: gateway.url, authorization: gateway.authorization };
  // The gateway's own prompt counter, against the same server, timed on its own.
  const counting = loadConfigFile(gateway.configFile).services[0]?.pricing?.tokenCounting;
  if (!counting) throw new Error("the metered service has no token counting settings");
  const counter = new TokenCounter(server.baseUrl, counting, kind);
  const chatBody = { model: server.model, messages: [{ role: "user", content: PROMPT }], max_tokens: maxTokens };

  // Warm-up: both paths once (the model's first decode, the gateway's JIT and connections).
  await streamChat(direct, request);
  await streamChat(through, request);
  await counter.chatPromptTokens(chatBody);
  const metricsUrl = `${gateway.operatorUrl}/metrics`;
  const phasesBefore = await scrapePhases(metricsUrl, "llm");
  const measured: Round[] = [];
  profile.mark();
  for (let round = 0; round < rounds; round++) {
    const countStarted = performance.now();
    const promptTokens = await counter.chatPromptTokens(chatBody);
    const countingMs = performance.now() - countStarted;
    const both = await alternating(
      round,
      () => withGatewayCpu(gateway.process.pid, () => streamChat(direct, request)),
      () => withGatewayCpu(gateway.process.pid, () => streamChat(through, request)),
    );
    const { direct: directSide, gateway: gatewaySide } = both;
    measured.push({
      direct: directSide.timing,
      gateway: gatewaySide.timing,
      gatewayCpuMs: gatewaySide.cpuMs,
      gatewayIdleCpuMs: directSide.cpuMs,
      countingMs,
      promptTokens,
    });
    log(`${kind} round ${round + 1}/${rounds}: direct ${describe(directSide)}; gateway ${describe(gatewaySide)}`);
  }
  // Time to first token again over many short streams: robust medians at little cost.
  const short: ChatRequest = { ...request, maxTokens: SHORT_MAX_TOKENS };
  const addedTtftMs: number[] = [];
  for (let round = 0; round < ttftRounds; round++) {
    const both = await alternating(
      round,
      () => streamChat(direct, short),
      () => streamChat(through, short),
    );
    addedTtftMs.push(both.gateway.ttftMs - both.direct.ttftMs);
    log(
      `${kind} short pair ${round + 1}/${ttftRounds}: ttft direct ${both.direct.ttftMs.toFixed(1)} ms, gateway ${both.gateway.ttftMs.toFixed(1)} ms`,
    );
  }
  profile.mark();
  const phases = meanPhaseMs(phasesBefore, await scrapePhases(metricsUrl, "llm"));
  const balance = (await (
    await fetch(`${gateway.url}/l402/balance`, { headers: { authorization: gateway.authorization } })
  ).json()) as { charged_msat: number; reserved_msat: number; balance_msat: number };
  await stopGateway();
  cleanups.pop();
  await server.stop();
  cleanups.pop();
  return { kind, rounds: measured, addedTtftMs, phases, balance, profile: profile.summary() };
}

async function main(): Promise<void> {
  log("starting a regtest network (btcd, alice the operator's LND, bob the agent's)");
  const network = await startNetwork({ log: (line) => log(`regtest: ${line}`) });
  cleanups.push(() => network.stop());
  log(`model ${model}; kinds ${kinds.join(", ")}; rounds ${rounds}, max_tokens ${maxTokens}, threads ${threads}`);
  const results: KindResult[] = [];
  for (const kind of kinds) results.push(await measureKind(network, kind as BenchKind));
  printResults(results, {
    rounds,
    maxTokens,
    ttftRounds,
    shortMaxTokens: SHORT_MAX_TOKENS,
    threads,
    cores: availableParallelism(),
  });
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(stopAll);
