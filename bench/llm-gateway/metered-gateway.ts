/**
 * The gateway in front of one inference server as an operator runs it: the CLI from a config file, a SQLite file
 * store, the regtest operator node (alice), logging at info; the server's chat metered per token. Its credential is
 * a prepaid balance bought from bob over Lightning, so every request runs the paid path: count the prompt, reserve
 * the worst case, stream, charge the reported usage, return the rest.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatAuthorization } from "@l402-gateway/l402";
import { pay } from "lightning";
import { lndClient, type RegtestNetworkInfo } from "../../test/regtest/network-file.js";
import { tokenMeteredLlm } from "../../test/support/services.js";
import { type Supervised, startConfiguredGateway } from "../../test/support/supervised.js";
import type { BenchKind } from "./servers.js";

export const RATES = { prompt: 2, completion: 5, fee: 7 };
/** What the balance is bought with: enough for thousands of calls at RATES. */
const DEPOSIT_MSAT = 5_000_000;

export interface MeteredGatewayOptions {
  readonly network: RegtestNetworkInfo;
  readonly kind: BenchKind;
  readonly upstream: string;
  readonly model: string;
  readonly maxTokensCap: number;
  /** Extra node options (`--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
}

export interface MeteredGateway {
  readonly url: string;
  /** Its operator listener (`/metrics`). */
  readonly operatorUrl: string;
  readonly authorization: string;
  readonly process: Supervised;
  /** Its config file, as the gateway read it. */
  readonly configFile: string;
}

export async function startMeteredGateway(options: MeteredGatewayOptions): Promise<MeteredGateway> {
  const dir = mkdtempSync(join(tmpdir(), "bench-llm-gateway-"));
  const service = tokenMeteredLlm(options.upstream, {
    rates: RATES,
    defaultMaxTokens: options.maxTokensCap,
    maxTokensCap: options.maxTokensCap,
    upstreamKind: options.kind,
  });
  const gateway = await startConfiguredGateway(
    dir,
    options.network.nodes.alice,
    { store: { path: join(dir, "gateway.sqlite") }, services: [service] },
    options.nodeArgs,
  );
  try {
    const challenge = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-l402-deposit-msat": String(DEPOSIT_MSAT) },
      body: JSON.stringify({ model: options.model, messages: [{ role: "user", content: "hi" }] }),
    });
    if (challenge.status !== 402) throw new Error(`expected a 402, got ${challenge.status}: ${await challenge.text()}`);
    const { macaroon, invoice } = (await challenge.json()) as { macaroon: string; invoice: string };
    const paid = await pay({ lnd: lndClient(options.network.nodes.bob), request: invoice });
    const authorization = formatAuthorization({ macaroons: [macaroon], preimage: Buffer.from(paid.secret, "hex") });
    const operatorUrl = /"operatorUrl":"(http:\/\/[^"]+)"/.exec(gateway.output())?.[1];
    if (!operatorUrl) throw new Error("the gateway logged no operator URL");
    return { url: gateway.url, operatorUrl, authorization, process: gateway, configFile: gateway.configFile };
  } catch (error) {
    await gateway.kill("SIGTERM");
    throw error;
  }
}
