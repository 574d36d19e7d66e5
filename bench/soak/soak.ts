import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatAuthorization } from "@l402-gateway/l402";
import { DEFAULT_MODEL, type RunningServer, startServer } from "@l402-gateway/llm-backend";
import { type AuthenticatedLnd, pay } from "lightning";
import type { RegtestNetworkInfo } from "../../test/regtest/network-file.js";
import { lndClient } from "../../test/regtest/network-file.js";
import { type AccountingVerdict, checkAccounting } from "../../test/support/accounting.js";
import { tokenMeteredLlm } from "../../test/support/services.js";
import { startConfiguredGateway } from "../../test/support/supervised.js";

export interface SoakOptions {
  readonly network: RegtestNetworkInfo;
  readonly agents: number;
  readonly durationMs: number;
  /** Seed of the action mix, so a run can be replayed. */
  readonly seed: number;
  readonly log?: (line: string) => void;
}

export interface SoakReport {
  readonly agents: number;
  readonly seconds: number;
  readonly requests: number;
  readonly throughputPerSecond: number;
  /** Latency percentiles in ms by action. */
  readonly latencyMs: Record<string, { p50: number; p95: number; p99: number; n: number }>;
  /** Outcomes that were not what the action expects, by class; empty in a healthy run. */
  readonly errors: Record<string, number>;
  readonly payments: number;
  readonly topUps: number;
  /**
   * Gateway RSS: before traffic, after the first tenth of the run (warm-up: JIT, connection pools, caches), at the end,
   * and the growth per minute between the last two (a leak shows as steady growth after warm-up).
   */
  readonly gatewayRssMb: {
    readonly start: number;
    readonly warm: number;
    readonly end: number;
    readonly max: number;
    readonly growthPerMinute: number;
  };
  readonly verdict: AccountingVerdict;
}

type Action = "chat" | "stream" | "disconnect" | "bad_token" | "free";
const MIX: readonly [Action, number][] = [
  ["chat", 0.45],
  ["stream", 0.2],
  ["disconnect", 0.1],
  ["bad_token", 0.15],
  ["free", 0.1],
];
const RATES = { promptMsatPerToken: 5, completionMsatPerToken: 20 };
const MODEL = DEFAULT_MODEL.fileName.replace(/\.gguf$/, "");
const json = { "content-type": "application/json" };

/** A small deterministic generator (mulberry32), so a seed replays the same mix. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pick(next: () => number): Action {
  let roll = next();
  for (const [action, weight] of MIX) {
    roll -= weight;
    if (roll < 0) return action;
  }
  return "chat";
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(match?.[1] ?? 0) / 102.4) / 10;
}

interface Credential {
  macaroon: string;
  preimage: string;
}

/**
 * N agents call a metered gateway on regtest for a bounded time, mixing paid calls, streams, disconnects mid-stream,
 * forged tokens and free calls; small deposits make them top up often. Ends with the accounting invariant.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const bob: AuthenticatedLnd = lndClient(options.network.nodes.bob);
  const alice: AuthenticatedLnd = lndClient(options.network.nodes.alice);
  const dir = mkdtempSync(join(tmpdir(), "l402-soak-"));
  const storePath = join(dir, "gateway.sqlite");
  const backend: RunningServer = await startServer(
    { gpu: "auto", port: 0, host: "127.0.0.1", parallel: 2, contextSize: 512, logLevel: "warn" },
    { waitUntilReady: true },
  );
  const gateway = await startConfiguredGateway(dir, options.network.nodes.alice, {
    store: { path: storePath },
    limits: { challengeBurst: 10_000, challengesPerMinute: 100_000 },
    services: [
      tokenMeteredLlm(backend.url, {
        rates: { prompt: RATES.promptMsatPerToken, completion: RATES.completionMsatPerToken, fee: 100 },
        defaultMaxTokens: 16,
        maxTokensCap: 64,
      }),
    ],
  });
  const pid = gateway.pid;
  const rssStart = rssMb(pid);
  const latencies = new Map<string, number[]>();
  const errors: Record<string, number> = {};
  const refusals: { balanceMsat: number; priceMsat: number }[] = [];
  let payments = 0;
  let topUps = 0;
  let served = 0;
  let requests = 0;
  const fail = (kind: string) => {
    errors[kind] = (errors[kind] ?? 0) + 1;
  };
  const url = `${gateway.url}/v1/chat/completions`;
  const auth = (c: Credential) =>
    formatAuthorization({ macaroons: [c.macaroon], preimage: Buffer.from(c.preimage, "hex") });
  const body = (extra: Record<string, unknown>) =>
    JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Say something." }], ...extra });

  /** Sends a paid request, paying a first deposit or a top-up when the gateway asks (at most once). */
  async function paid(state: { credential?: Credential }, init: RequestInit, signal?: AbortSignal): Promise<Response> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const headers: Record<string, string> = { ...json, "x-l402-deposit-msat": "3000" };
      if (state.credential) headers.authorization = auth(state.credential);
      const res = await fetch(url, { method: "POST", ...init, headers, signal });
      requests += 1;
      if (res.status !== 402) return res;
      const challenge = (await res.json()) as {
        code: string;
        invoice: string;
        macaroon: string;
        balance_msat?: number;
        price_msat: number;
      };
      if (challenge.code === "insufficient_balance") {
        topUps += 1;
        refusals.push({ balanceMsat: challenge.balance_msat ?? 0, priceMsat: challenge.price_msat });
      }
      const payment = await pay({ lnd: bob, request: challenge.invoice, max_fee: 10 });
      payments += 1;
      state.credential = { macaroon: challenge.macaroon, preimage: payment.secret };
    }
    fail("402_after_payment");
    return new Response(null, { status: 599 });
  }

  async function agent(index: number, deadline: number): Promise<void> {
    const next = random(options.seed + index);
    const state: { credential?: Credential } = {};
    while (Date.now() < deadline) {
      const action = pick(next);
      const started = performance.now();
      try {
        if (action === "chat") {
          const res = await paid(state, { body: body({ max_tokens: 8 }) });
          if (res.status === 200) served += 1;
          else fail(`chat_${res.status}`);
          await res.text();
        } else if (action === "stream") {
          const res = await paid(state, { body: body({ max_tokens: 12, stream: true }) });
          const text = await res.text();
          if (res.status === 200 && text.includes("data: [DONE]")) served += 1;
          else fail(`stream_${res.status}`);
        } else if (action === "disconnect") {
          const abort = new AbortController();
          const res = await paid(state, { body: body({ max_tokens: 48, stream: true }) }, abort.signal);
          const reader = res.body?.getReader();
          let seen = "";
          while (!/"content":"[^"]/.test(seen)) {
            const chunk = await reader?.read();
            if (!chunk || chunk.done) break;
            seen += Buffer.from(chunk.value).toString();
          }
          abort.abort();
          // A stream cut after its first token is charged that much, as a served (partial) call.
          if (/"content":"[^"]/.test(seen)) served += 1;
          else fail("disconnect_no_token");
        } else if (action === "bad_token") {
          const forged = state.credential
            ? { macaroon: state.credential.macaroon, preimage: "00".repeat(32) }
            : { macaroon: "AgEEbHNhdA", preimage: "00".repeat(32) };
          const res = await fetch(url, {
            method: "POST",
            headers: { ...json, authorization: auth(forged) },
            body: body({}),
          });
          requests += 1;
          const answer = (await res.json()) as { code?: string };
          if (res.status !== 402 || !["wrong_preimage", "malformed"].includes(answer.code ?? ""))
            fail(`bad_token_${res.status}`);
        } else {
          const res = await fetch(`${gateway.url}/v1/models`);
          requests += 1;
          if (res.status !== 200) fail(`free_${res.status}`);
          await res.text();
        }
      } catch (error) {
        if (!(action === "disconnect" && (error as Error).name === "AbortError")) fail(`${action}_exception`);
      }
      const samples = latencies.get(action) ?? [];
      samples.push(performance.now() - started);
      latencies.set(action, samples);
    }
  }

  const started = Date.now();
  const samples: { at: number; mb: number }[] = [];
  const sampler = setInterval(() => samples.push({ at: Date.now(), mb: rssMb(pid) }), 5_000);
  log(`soak: ${options.agents} agents for ${Math.round(options.durationMs / 1000)} s (seed ${options.seed})`);
  try {
    await Promise.all(Array.from({ length: options.agents }, (_, i) => agent(i, started + options.durationMs)));
    const seconds = (Date.now() - started) / 1000;
    clearInterval(sampler);
    const rssEnd = rssMb(pid);
    const warmSample = samples.find((sample) => sample.at - started >= options.durationMs / 10) ?? {
      at: Date.now(),
      mb: rssEnd,
    };
    const minutesAfterWarmup = (Date.now() - warmSample.at) / 60_000;
    // Let the last settlements and the cut streams' charges land before reading the books.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const verdict = await checkAccounting({ storePath, lnd: alice, refusals, upstreamServed: served, quiescent: true });
    const latencyMs = Object.fromEntries(
      [...latencies.entries()].map(([action, samples]) => {
        const sorted = [...samples].sort((a, b) => a - b);
        const round = (n: number) => Math.round(n * 10) / 10;
        return [
          action,
          {
            p50: round(percentile(sorted, 0.5)),
            p95: round(percentile(sorted, 0.95)),
            p99: round(percentile(sorted, 0.99)),
            n: sorted.length,
          },
        ];
      }),
    );
    return {
      agents: options.agents,
      seconds: Math.round(seconds),
      requests,
      throughputPerSecond: Math.round((requests / seconds) * 10) / 10,
      latencyMs,
      errors,
      payments,
      topUps,
      gatewayRssMb: {
        start: rssStart,
        warm: warmSample.mb,
        end: rssEnd,
        max: Math.max(rssStart, rssEnd, ...samples.map((sample) => sample.mb)),
        growthPerMinute:
          minutesAfterWarmup > 0 ? Math.round(((rssEnd - warmSample.mb) / minutesAfterWarmup) * 100) / 100 : 0,
      },
      verdict,
    };
  } finally {
    clearInterval(sampler);
    await gateway.kill("SIGTERM");
    await backend.close();
  }
}
