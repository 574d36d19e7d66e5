/**
 * Run by nwc-hostile-relay.test.ts in a child process: one call paid over NWC through a relay that drops every
 * reply, then `wallet.close()` and nothing else. The process must then exit by itself: no timer or promise of the
 * NWC requests keeps it alive. argv: <url>; the URI comes from NWC_URI. Prints the call's error code.
 */
import { createL402Client, L402ClientError, NwcWallet } from "@l402-gateway/agent-client";

const wallet = NwcWallet.fromUri(process.env.NWC_URI ?? "", { requestTimeoutMs: 2_000 });
const client = createL402Client({ wallet, paymentTimeoutMs: 2_000, budget: { totalSats: 100 }, maxFeeSats: 5 });
try {
  await client.fetch(process.argv[2] ?? "");
  console.log("served");
} catch (error) {
  console.log(error instanceof L402ClientError ? error.code : String(error));
}
wallet.close();
