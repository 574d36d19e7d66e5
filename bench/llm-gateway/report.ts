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

const ms = (value: number | undefined) => (value === undefined ? "n/a" : value.toFixed(0));
const verdict = (met: boolean) => (met ? "met" : "MISSED");

export function printResults(
  results: readonly KindResult[],
  setup: { rounds: number; maxTokens: number; threads: number; cores: number },
): void {
  console.log(
    `\nthe gateway's cost, one stream; ${setup.rounds} rounds of direct and gateway alternating, ` +
      `max_tokens ${setup.maxTokens}, temperature 0, ${setup.threads} threads on ${setup.cores} cores; medians over rounds`,
  );
  const header = [
    "kind".padEnd(17),
    "tokens/s direct".padStart(15),
    "gateway".padStart(8),
    "ratio".padStart(6),
    `(≥ ${TARGETS.tokensPerSecondRatio})`.padStart(9),
    "TTFT ms direct".padStart(15),
    "gateway".padStart(8),
    "added".padStart(6),
    "p90".padStart(6),
    `(≤ ${TARGETS.addedTtftMs} ms)`.padStart(10),
    "count ms".padStart(9),
    "gw CPU ms: req, idle".padStart(20),
  ];
  console.log(header.join(" "));
  for (const result of results) {
    const s = summarise(result.rounds);
    console.log(
      [
        result.kind.padEnd(17),
        s.directTokensPerSecond.toFixed(1).padStart(15),
        s.gatewayTokensPerSecond.toFixed(1).padStart(8),
        s.ratio.toFixed(3).padStart(6),
        verdict(s.ratio >= TARGETS.tokensPerSecondRatio).padStart(9),
        s.directTtftMs.toFixed(1).padStart(15),
        s.gatewayTtftMs.toFixed(1).padStart(8),
        s.addedTtftMs.toFixed(1).padStart(6),
        s.addedTtftP90Ms.toFixed(1).padStart(6),
        verdict(s.addedTtftMs <= TARGETS.addedTtftMs).padStart(10),
        s.countingMs.toFixed(1).padStart(9),
        `${ms(s.gatewayCpuMs)}, ${ms(s.gatewayIdleCpuMs)}`.padStart(20),
      ].join(" "),
    );
    if (s.differingAnswers > 0) {
      console.log(`  WARNING: ${s.differingAnswers} rounds answered differently directly and through the gateway`);
    }
    const { auth, pricing, upstream_ttfb } = result.phases;
    console.log(
      `  the gateway's own timing per request (mean): authentication ${auth.toFixed(1)} ms, pricing (the count) ` +
        `${pricing.toFixed(1)} ms, upstream's response headers ${upstream_ttfb.toFixed(1)} ms after forwarding`,
    );
    const { charged_msat, reserved_msat } = result.balance;
    console.log(
      `  paid path: ${result.rounds.length + 1} paid streams charged ${charged_msat} msat, ` +
        `${reserved_msat} msat still reserved${reserved_msat === 0 ? "" : " (WARNING: a reservation was left open)"}`,
    );
  }
  console.log(
    "\ntokens/s: completion tokens ÷ the request's wall time; added TTFT: per round, the gateway's time to the first " +
      "generated text minus the server's; count ms: the gateway's prompt count (its TokenCounter) against the same " +
      "server, timed alone, part of the added TTFT; gw CPU: the gateway process's CPU during its request, and during " +
      "the direct one (its idle work, such as health checks).",
  );
  for (const result of results) if (result.profile) console.log(`\n${result.kind}: ${result.profile}`);
}
