/** The gateway's own account of where a request's time went: its request-duration histogram, by phase. */

const PHASES = ["auth", "pricing", "upstream_ttfb"] as const;
export type Phase = (typeof PHASES)[number];
export type PhaseTotals = Record<Phase, { seconds: number; count: number }>;

/** The sums and counts of `l402_request_duration_seconds` for `service`, by phase, from its /metrics. */
export async function scrapePhases(metricsUrl: string, service: string): Promise<PhaseTotals> {
  const text = await (await fetch(metricsUrl)).text();
  const read = (suffix: "sum" | "count", phase: Phase) => {
    const line = text
      .split("\n")
      .find(
        (candidate) =>
          candidate.startsWith(`l402_request_duration_seconds_${suffix}{`) &&
          candidate.includes(`service="${service}"`) &&
          candidate.includes(`phase="${phase}"`),
      );
    return line === undefined ? 0 : Number(line.split(" ").pop());
  };
  return Object.fromEntries(
    PHASES.map((phase) => [phase, { seconds: read("sum", phase), count: read("count", phase) }]),
  ) as PhaseTotals;
}

/** Mean milliseconds per request of each phase between two scrapes. */
export function meanPhaseMs(before: PhaseTotals, after: PhaseTotals): Record<Phase, number> {
  return Object.fromEntries(
    PHASES.map((phase) => {
      const count = after[phase].count - before[phase].count;
      return [phase, count > 0 ? ((after[phase].seconds - before[phase].seconds) * 1000) / count : Number.NaN];
    }),
  ) as Record<Phase, number>;
}
