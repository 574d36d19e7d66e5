/**
 * The network a BOLT11 invoice's human-readable prefix names, as Payment challenges name it (`mainnet`, `regtest`,
 * `signet`, `testnet`, `simnet`). Reads the prefix only: it does not decode or check the invoice.
 */
export function invoiceNetwork(request: string): string {
  const prefix = /^ln([a-z]+?)(?:\d|$)/.exec(request.toLowerCase())?.[1] ?? "";
  if (prefix.startsWith("bcrt")) return "regtest";
  if (prefix.startsWith("tbs")) return "signet";
  if (prefix.startsWith("tb")) return "testnet";
  if (prefix.startsWith("sb")) return "simnet";
  return "mainnet";
}
