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
