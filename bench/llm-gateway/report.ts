import { median, percentile } from "../support/median.js";
import type { Phase } from "./phases.js";
import { type StreamTiming, tokensPerSecond } from "./stream.js";

/** The targets the gateway's cost is stated in (issue 29). */
export const TARGETS = { tokensPerSecondRatio: 0.97, addedTtftMs: 5 };

/** One round: the same request directly and through the gateway, back to back. */
export interface Round {
  readonly direct: StreamTiming;
  readonly gateway: StreamTiming;
  /** CPU the gateway process used while it served its request (undefined without /proc). */
  readonly gatewayCpuMs: number | undefined;
  /** CPU the gateway process used while the server answered the direct request (its idle work: health checks). */
  readonly gatewayIdleCpuMs: number | undefined;
  /** The gateway's prompt count of the same request against the same server, timed on its own. */
  readonly countingMs: number;
  readonly promptTokens: number;
}

export interface KindResult {
  readonly kind: string;
  readonly rounds: readonly Round[];
  /** Per pair of short streams: the gateway's time to first token minus the server's. */
  readonly addedTtftMs: readonly number[];
  /** The gateway's own mean per paid request over the rounds: authenticating, pricing (the count), upstream headers. */
  readonly phases: Record<Phase, number>;
  /** The prepaid balance's account at the end: every reservation must be closed. */
  readonly balance: { charged_msat: number; reserved_msat: number; balance_msat: number };
  readonly profile: string | undefined;
}

export interface Summary {
  readonly directTokensPerSecond: number;
  readonly gatewayTokensPerSecond: number;
  /** Median over rounds of the round's gateway ÷ direct tokens/s. */
  readonly ratio: number;
  readonly directTtftMs: number;
  readonly gatewayTtftMs: number;
  /** Per round gateway TTFT − direct TTFT: median and p90. */
  readonly addedTtftMs: number;
  readonly addedTtftP90Ms: number;
  readonly countingMs: number;
  readonly gatewayCpuMs: number | undefined;
  readonly gatewayIdleCpuMs: number | undefined;
  /** Rounds whose two answers differ in text (they should not, at temperature 0). */
  readonly differingAnswers: number;
}

export function summarise(rounds: readonly Round[]): Summary {
  const of = (pick: (round: Round) => number) => median(rounds.map(pick));
  const added = rounds.map((round) => round.gateway.ttftMs - round.direct.ttftMs);
  const cpu = (pick: (round: Round) => number | undefined) => {
    const known = rounds.flatMap((round) => pick(round) ?? []);
    return known.length === rounds.length ? median(known) : undefined;
  };
  return {
    directTokensPerSecond: of((round) => tokensPerSecond(round.direct)),
    gatewayTokensPerSecond: of((round) => tokensPerSecond(round.gateway)),
    ratio: of((round) => tokensPerSecond(round.gateway) / tokensPerSecond(round.direct)),
    directTtftMs: of((round) => round.direct.ttftMs),
    gatewayTtftMs: of((round) => round.gateway.ttftMs),
    addedTtftMs: median(added),
    addedTtftP90Ms: percentile(added, 90),
    countingMs: of((round) => round.countingMs),
    gatewayCpuMs: cpu((round) => round.gatewayCpuMs),
    gatewayIdleCpuMs: cpu((round) => round.gatewayIdleCpuMs),
    differingAnswers: rounds.filter((round) => round.direct.text !== round.gateway.text).length,
  };
}

const ms = (value: number | undefined) => (value === undefined ? "n/a" : `${value.toFixed(0)} ms`);
const verdict = (met: boolean) => (met ? "met" : "MISSED");

export interface Setup {
  readonly rounds: number;
  readonly maxTokens: number;
  readonly ttftRounds: number;
  readonly shortMaxTokens: number;
  readonly threads: number;
  readonly cores: number;
}

function printKind(result: KindResult, s: Summary, setup: Setup): void {
  const f = (value: number) => value.toFixed(1);
  console.log(`\n${result.kind}`);
  console.log(
    `  tokens/s, ${setup.maxTokens}-token streams:  direct ${f(s.directTokensPerSecond)}  gateway ` +
      `${f(s.gatewayTokensPerSecond)}  ratio ${s.ratio.toFixed(3)} (median of the rounds' ratios)`,
  );
  console.log(
    `  TTFT, the same streams:  direct ${f(s.directTtftMs)} ms  gateway ${f(s.gatewayTtftMs)} ms  added: median ` +
      `${f(s.addedTtftMs)} ms, p90 ${f(s.addedTtftP90Ms)} ms`,
  );
  const added = result.addedTtftMs;
  console.log(
    `  TTFT, ${added.length} pairs of ${setup.shortMaxTokens}-token streams:  added: median ` +
      `${f(median(added))} ms, p90 ${f(percentile(added, 90))} ms`,
  );
  const { auth, pricing, upstream_ttfb } = result.phases;
  console.log(
    `  the prompt count alone (the gateway's TokenCounter against the server): ${f(s.countingMs)} ms; the gateway's ` +
      `own mean per paid stream: authentication ${f(auth)} ms, pricing (the count) ${f(pricing)} ms, upstream's ` +
      `headers ${f(upstream_ttfb)} ms after forwarding`,
  );
  console.log(
    `  gateway CPU during its stream ${ms(s.gatewayCpuMs)}, during the direct one (idle: health checks) ` +
      `${ms(s.gatewayIdleCpuMs)}`,
  );
  if (s.differingAnswers > 0) {
    console.log(`  WARNING: ${s.differingAnswers} rounds answered differently directly and through the gateway`);
  }
  const { charged_msat, reserved_msat } = result.balance;
  console.log(
    `  paid path: charged ${charged_msat} msat in all, ${reserved_msat} msat still reserved` +
      (reserved_msat === 0 ? "" : " (WARNING: a reservation was left open)"),
  );
}

export function printResults(results: readonly KindResult[], setup: Setup): void {
  console.log(
    `\nthe gateway's cost, one stream: ${setup.rounds} rounds, direct and through the gateway alternating, ` +
      `temperature 0, ${setup.threads} threads on ${setup.cores} cores; medians over rounds`,
  );
  const summaries = results.map((result) => summarise(result.rounds));
  results.forEach((result, i) => {
    printKind(result, summaries[i] as Summary, setup);
  });
  console.log(
    `\n${"kind".padEnd(17)} ${"tokens/s ratio".padStart(14)} ${`≥ ${TARGETS.tokensPerSecondRatio}`.padStart(7)} ` +
      `${"added TTFT median, p90".padStart(23)} ${`≤ ${TARGETS.addedTtftMs} ms`.padStart(7)}`,
  );
  results.forEach((result, i) => {
    const s = summaries[i] as Summary;
    const added = median(result.addedTtftMs);
    console.log(
      `${result.kind.padEnd(17)} ${s.ratio.toFixed(3).padStart(14)} ${verdict(s.ratio >= TARGETS.tokensPerSecondRatio).padStart(7)} ` +
        `${`${added.toFixed(1)} ms, ${percentile(result.addedTtftMs, 90).toFixed(1)} ms`.padStart(23)} ` +
        `${verdict(added <= TARGETS.addedTtftMs).padStart(7)}`,
    );
  });
  console.log(
    "(tokens/s: completion tokens ÷ the request's wall time; added TTFT: per pair, the gateway's time to the first " +
      "generated text minus the server's, from the short streams)",
  );
  for (const result of results) if (result.profile) console.log(`\n${result.kind}: ${result.profile}`);
}
