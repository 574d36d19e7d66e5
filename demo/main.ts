/**
 * npm run demo [-- --once] [--model <gguf path | hf:uri>] [--question "..."] [--wallet lnd|nwc]
 *
 * Starts a local regtest Lightning network (or uses your LND nodes), the LLM backend on the default model and the
 * gateway selling it by the token; then an agent asks a question through the `openai` SDK with the agent client's
 * fetch, paying from its own node (or, with --wallet nwc, through a Nostr Wallet Connect wallet service on a local
 * relay that pays from that node). Stays up for the `l402` CLI until Ctrl-C, unless --once.
 *
 * Environment instead of flags: L402_DEMO_MODEL, L402_DEMO_QUESTION. To use existing nodes instead of regtest, set
 * L402_OPERATOR_LND_{SOCKET,CERT,MACAROON} (invoice macaroon) and L402_AGENT_LND_{SOCKET,CERT,MACAROON}
 * (a macaroon that can pay); certs and macaroons in base64.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createL402Fetch, LndWallet, MemoryStore, NwcWallet, type Wallet } from "@l402-gateway/agent-client";
import { authenticatedLndGrpc } from "lightning";
import OpenAI from "openai";
import { startNostrRelay } from "../test/support/nostr-relay.js";
import { startNwcWalletService } from "../test/support/nwc-wallet-service.js";
import { watchCosts } from "./cost-watch.js";
import { type LndConnection, startDemoStack } from "./stack.js";

const USAGE = `usage: npm run demo [-- --once] [--model <path|hf:uri>] [--question <text>] [--wallet lnd|nwc]`;
const DEPOSIT_MSAT = 50_000;

function lndFromEnv(prefix: string): LndConnection | undefined {
  const socket = process.env[`${prefix}_SOCKET`];
  const cert = process.env[`${prefix}_CERT`];
  const macaroon = process.env[`${prefix}_MACAROON`];
  if (!socket && !cert && !macaroon) return undefined;
  if (!socket || !cert || !macaroon) {
    throw new Error(`set all of ${prefix}_SOCKET, ${prefix}_CERT and ${prefix}_MACAROON, or none`);
  }
  return { socket, cert, macaroon };
}

const progress = (line: string) => console.error(`[demo] ${line}`);

// The lightning package names LND by IP in TLS, which Node flags as deprecated on every connection: noise here.
process.noDeprecation = true;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      once: { type: "boolean", default: false },
      model: { type: "string" },
      question: { type: "string" },
      wallet: { type: "string", default: "lnd" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.wallet !== "lnd" && values.wallet !== "nwc") throw new Error("--wallet is lnd or nwc");
  const operator = lndFromEnv("L402_OPERATOR_LND");
  const agent = lndFromEnv("L402_AGENT_LND");
  if ((operator === undefined) !== (agent === undefined)) {
    throw new Error("give both the operator's and the agent's LND, or neither (a regtest network starts)");
  }
  const question =
    values.question ?? process.env.L402_DEMO_QUESTION ?? "In one sentence: why would an AI agent pay with Lightning?";
  const model = values.model ?? process.env.L402_DEMO_MODEL;

  const stack = await startDemoStack({
    ...(model ? { model } : {}),
    ...(operator && agent ? { lnd: { operator, agent } } : {}),
    log: progress,
  });
  const cleanups: (() => Promise<void> | void)[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    progress("stopping…");
    for (const cleanup of cleanups.reverse()) await cleanup();
    await stack.stop();
    process.exit(code);
  };
  process.once("SIGINT", () => void stop(0));
  process.once("SIGTERM", () => void stop(0));

  try {
    // The admin bearer secret goes to a file only the user can read, never to the terminal (or its scrollback, logs).
    const adminSecretFile = join(mkdtempSync(join(tmpdir(), "l402-demo-admin-")), "admin-secret");
    writeFileSync(adminSecretFile, stack.adminSecret, { mode: 0o600 });
    let wallet: Wallet = LndWallet.connect(stack.agentLnd);
    let nwcUriFile: string | undefined;
    if (values.wallet === "nwc") {
      // A Nostr relay on loopback and a NIP-47 wallet service on it that pays from the agent's node. The Alby SDK's
      // wallet service narrates its relay connection with console.info; the demo prints with log and error only.
      console.info = () => undefined;
      const relay = await startNostrRelay();
      cleanups.push(() => relay.close());
      const service = await startNwcWalletService(relay.url, authenticatedLndGrpc(stack.agentLnd).lnd);
      cleanups.push(() => service.close());
      const nwc = NwcWallet.fromUri(service.uri);
      cleanups.push(() => nwc.close());
      wallet = nwc;
      nwcUriFile = join(mkdtempSync(join(tmpdir(), "l402-demo-nwc-")), "nwc.uri");
      writeFileSync(nwcUriFile, service.uri, { mode: 0o600 });
      progress(`paying through Nostr Wallet Connect: relay ${relay.url}, wallet service on the agent's LND`);
    }
    const costs = watchCosts();
    const l402fetch = createL402Fetch({
      wallet,
      store: new MemoryStore(),
      maxCostSats: 1_000,
      maxFeeSats: 10,
      budget: { dailySats: 10_000 },
      onEvent: (event) => {
        if (event.type === "paying") progress(`paying ${event.quote.amountSats} sats to ${event.quote.origin}…`);
      },
    });
    const openai = new OpenAI({
      baseURL: `${stack.gateway.url}/v1`,
      apiKey: "l402",
      // Prepay several calls with the first payment; the gateway meters each one against the balance.
      defaultHeaders: { "X-L402-Deposit-Msat": String(DEPOSIT_MSAT) },
      fetch: costs.wrap(l402fetch),
    });
    const models = await openai.models.list();
    const modelId = models.data[0]?.id ?? stack.modelId;

    process.stdout.write(`\nQ: ${question}\n`);
    const stream = await openai.chat.completions.create({
      model: modelId,
      messages: [{ role: "user", content: question }],
      max_tokens: 96,
      stream: true,
    });
    // The answer line starts once the payment's progress lines (stderr) are done, so that they do not land on it.
    process.stdout.write("A: ");
    for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");
    process.stdout.write("\n\n");

    const [receipt] = await l402fetch.client.receipts();
    const cost = costs.last();
    const lines = [
      receipt
        ? `paid:        ${receipt.amountSats} sats (routing fee ${receipt.feeSats} sats), payment hash ${receipt.paymentHash.slice(0, 16)}…`
        : "paid:        nothing (a cached token was reused)",
      cost ? `this call:   ${cost.costMsat} msat` : "this call:   (no cost reported)",
      cost ? `balance:     ${cost.balanceMsat} msat left on the token for the next calls` : "",
      `metrics:     ${stack.gateway.operatorUrl}/metrics`,
      `admin API:   ${stack.gateway.adminUrl}/admin/openapi.json  (Authorization: Bearer <the secret in ${adminSecretFile}>)`,
    ].filter(Boolean);
    console.log(lines.join("\n"));

    if (values.once) {
      await stop(0);
      return;
    }
    const lnd = stack.agentLnd;
    const walletEnv =
      nwcUriFile === undefined
        ? `  export L402_LND_SOCKET='${lnd.socket}'
  export L402_LND_CERT='${lnd.cert}'
  export L402_LND_MACAROON='${lnd.macaroon}'`
        : `  export L402_WALLET=nwc L402_NWC_URI_FILE='${nwcUriFile}'`;
    console.log(`
The stack stays up; Ctrl-C stops everything. In another shell, pay as the agent with the l402 CLI:

${walletEnv}
  npx l402 post ${stack.gateway.url}/v1/chat/completions --max-cost 100 \\
    -H 'content-type: application/json' -H 'X-L402-Deposit-Msat: 20000' \\
    -d '{"model":"${modelId}","messages":[{"role":"user","content":"Hello!"}]}'
  npx l402 receipts
  curl -s -H "Authorization: Bearer $(cat '${adminSecretFile}')" ${stack.gateway.adminUrl}/admin/revenue`);
  } catch (error) {
    console.error(`[demo] failed: ${error instanceof Error ? error.message : String(error)}`);
    await stop(1);
  }
}

main().catch((error: unknown) => {
  console.error(`[demo] ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  process.exit(1);
});
