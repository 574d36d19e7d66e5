/**
 * A minimal paying agent: asks an L402-metered, OpenAI-compatible API a question and pays from its own LND.
 *
 *   L402_GATEWAY_URL=http://127.0.0.1:8080 L402_LND_SOCKET=127.0.0.1:10009 \
 *   L402_LND_CERT=<base64 tls.cert> L402_LND_MACAROON=<base64 admin.macaroon> \
 *   npx tsx examples/agent.ts "Why pay per call?"
 *
 * (`npm run demo` starts a gateway, a model and a regtest network and prints these values.)
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { createL402Fetch, FileStore, LndWallet } from "@l402-gateway/agent-client";
import OpenAI from "openai";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}

const l402fetch = createL402Fetch({
  wallet: LndWallet.connect({
    socket: required("L402_LND_SOCKET"),
    cert: required("L402_LND_CERT"),
    macaroon: required("L402_LND_MACAROON"),
  }),
  // Tokens, receipts and budget spending survive restarts (file mode 0600).
  store: new FileStore(join(homedir(), ".l402", "store.json")),
  maxCostSats: 100,
  maxFeeSats: 5,
  budget: { hourlySats: 500, dailySats: 2_000 },
  // A gateway whose certificate comes from a private CA: L402_CA=/path/to/ca.pem. Plain http:// is refused unless
  // the gateway is on this machine (or allowInsecure is set).
  ...(process.env.L402_CA ? { ca: process.env.L402_CA } : {}),
});

const openai = new OpenAI({
  baseURL: `${required("L402_GATEWAY_URL")}/v1`,
  apiKey: "l402",
  // One payment prepays several calls on a metered gateway.
  defaultHeaders: { "X-L402-Deposit-Msat": "20000" },
  fetch: l402fetch,
});

const [model] = (await openai.models.list()).data;
const stream = await openai.chat.completions.create({
  model: model?.id ?? "default",
  messages: [{ role: "user", content: process.argv[2] ?? "Hello!" }],
  max_tokens: 64,
  stream: true,
});
for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");
process.stdout.write("\n");
const [receipt] = await l402fetch.client.receipts();
if (receipt) console.error(`paid ${receipt.amountSats} sats + ${receipt.feeSats} sats fee (${receipt.status})`);
