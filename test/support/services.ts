/**
 * Two services in front of the test upstream, as config input: `weather`, fixed price (5 sats a token), and `echo`,
 * metered at `callMsat` per call.
 */
export function weatherAndEcho(upstream: string, callMsat: number) {
  return [
    { name: "weather", match: { pathPrefix: "/weather/" }, upstream, price: { sats: 5 } },
    { name: "echo", match: { pathPrefix: "/v1/echo" }, upstream, pricing: { rules: [{ perCallMsat: callMsat }] } },
  ];
}

/**
 * The `llm` service, as config input: metered by tokens at `rates` (msat per prompt and completion token, plus a fee
 * per call), a deposit of 1,000 to 10,000,000 msat, its model list free.
 */
export function tokenMeteredLlm(
  upstream: string,
  options: {
    rates: { prompt: number; completion: number; fee: number };
    defaultMaxTokens: number;
    maxTokensCap: number;
    upstreamKind?: string;
  },
) {
  const { rates, defaultMaxTokens, maxTokensCap, upstreamKind } = options;
  return {
    name: "llm",
    match: { pathPrefix: "/v1/" },
    upstream,
    ...(upstreamKind === undefined ? {} : { upstreamKind }),
    freePaths: ["/v1/models"],
    pricing: {
      rules: [
        { tokens: { promptMsatPerToken: rates.prompt, completionMsatPerToken: rates.completion }, feeMsat: rates.fee },
      ],
      defaultMaxTokens,
      maxTokensCap,
      deposit: { minMsat: 1_000, maxMsat: 10_000_000 },
    },
  };
}
