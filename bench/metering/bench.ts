/**
 * Prepaid metering against per-call L402, on a real regtest network with the real default model:
 *   1. Lightning payments needed for N LLM calls: per-call (each call pays its own 402) vs prepaid (one deposit);
 *   2. latency of the first paid call (402, pay, retry) against an unpaid call plus one bare payment, measured
 *      side by side.
 *
 *   npm run bench:metering [-- --calls 100]
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseConfig, startGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import { DEFAULT_MODEL, startServer } from "@l402-gateway/llm-backend";
import { type AuthenticatedLnd, createInvoice, getPayments, pay } from "lightning";
import pino from "pino";
import { startNetwork } from "../../test/regtest/network.js";
import { gatewayLndConfig, lndClient } from "../../test/regtest/network-file.js";
import { median } from "../support/median.js";

const { values } = parseArgs({ options: { calls: { type: "string", default: "100" } } });
const CALLS = Number(values.calls);
const MODEL = DEFAULT_MODEL.fileName.replace(/\.gguf$/, "");
const body = JSON.stringify({
  model: MODEL,
  messages: [{ role: "user", content: "Say hi." }],
  max_tokens: 4,
  temperature: 0,
});
const json = { "content-type": "application/json" };

interface Challenge {
  macaroon: string;
  invoice: string;
  price_msat: number;
}

async function paymentsMade(lnd: AuthenticatedLnd): Promise<number> {
  return (await getPayments({ lnd })).payments.length;
}

async function main(): Promise<void> {
  console.error("[bench] starting a regtest network, the llm-backend and the gateway…");
  const network = await startNetwork({ log: (line) => console.error(`[regtest] ${line}`) });
  const backend = await startServer(
    { gpu: "auto", port: 0, host: "127.0.0.1", parallel: 1, contextSize: 1024, logLevel: "warn" },
    { waitUntilReady: true },
  );
  const gateway = await startGateway(
    parseConfig({
      listen: { port: 0 },
      operator: { port: 0 },
      lnd: gatewayLndConfig(network.info.nodes.alice),
      store: { path: join(mkdtempSync(join(tmpdir(), "bench-metering-")), "gateway.sqlite") },
      log: { level: "silent" },
      limits: { challengeBurst: 100_000, challengesPerMinute: 100_000 },
      services: [
        {
          name: "llm",
          match: { pathPrefix: "/v1/" },
          upstream: backend.url,
          pricing: {
            rules: [{ tokens: { promptMsatPerToken: 10, completionMsatPerToken: 20 }, feeMsat: 100 }],
            deposit: { minMsat: 1_000, maxMsat: 100_000_000 },
          },
        },
      ],
    }),
    { log: pino({ level: "silent" }) },
  );
  const bob = lndClient(network.info.nodes.bob);
  const alice = lndClient(network.info.nodes.alice);
  const url = `${gateway.url}/v1/chat/completions`;

  /** One call as a plain L402 client makes it: pay whatever 402 comes back, then retry. */
  async function callPaying(credential: { macaroon: string; preimage: string } | undefined, deposit?: number) {
    const headers = {
      ...json,
      ...(credential
        ? {
            authorization: formatAuthorization({
              macaroons: [credential.macaroon],
              preimage: Buffer.from(credential.preimage, "hex"),
            }),
          }
        : {}),
      ...(deposit ? { "x-l402-deposit-msat": String(deposit) } : {}),
    };
    const first = await fetch(url, { method: "POST", headers, body });
    if (first.status === 200) {
      await first.text();
      return credential;
    }
    if (first.status !== 402) throw new Error(`unexpected ${first.status}: ${await first.text()}`);
    const challenge = (await first.json()) as Challenge;
    const paid = await pay({ lnd: bob, request: challenge.invoice });
    const next = { macaroon: challenge.macaroon, preimage: paid.secret };
    const retry = await fetch(url, {
      method: "POST",
      headers: {
        ...json,
        authorization: formatAuthorization({ macaroons: [next.macaroon], preimage: Buffer.from(next.preimage, "hex") }),
      },
      body,
    });
    if (retry.status !== 200) throw new Error(`paid retry answered ${retry.status}: ${await retry.text()}`);
    await retry.text();
    return next;
  }

  try {
    // Warm the model and the LND route once, outside the measurements.
    await callPaying(undefined);

    // The two modes alternate call by call, so both see the same machine load.
    console.error(`[bench] ${CALLS} calls each, per-call L402 and prepaid metering, interleaved…`);
    const quote = (await (await fetch(url, { method: "POST", headers: json, body })).json()) as Challenge;
    let perCallSeconds = 0;
    let prepaidSeconds = 0;
    let perCallPayments = 0;
    let prepaidPayments = 0;
    let credential: { macaroon: string; preimage: string } | undefined;
    for (let i = 0; i < CALLS; i++) {
      let before = await paymentsMade(bob);
      let started = performance.now();
      await callPaying(undefined);
      perCallSeconds += (performance.now() - started) / 1000;
      perCallPayments += (await paymentsMade(bob)) - before;

      before = await paymentsMade(bob);
      started = performance.now();
      credential = await callPaying(credential, credential ? undefined : quote.price_msat * CALLS);
      prepaidSeconds += (performance.now() - started) / 1000;
      prepaidPayments += (await paymentsMade(bob)) - before;
    }

    console.error("[bench] first paid call against an unpaid call plus one payment…");
    const firstPaid: number[] = [];
    const unpaidPlusPayment: number[] = [];
    for (let round = 0; round < 7; round++) {
      let started = performance.now();
      await callPaying(undefined);
      firstPaid.push(performance.now() - started);

      started = performance.now();
      await (await fetch(`${backend.url}/v1/chat/completions`, { method: "POST", headers: json, body })).text();
      // One payment, counted from the invoice's creation as the paid path counts it from the 402.
      const invoice = await createInvoice({ lnd: alice, tokens: 1 });
      await pay({ lnd: bob, request: invoice.request });
      unpaidPlusPayment.push(performance.now() - started);
    }

    const rows = [
      ["mode", "calls", "LN payments", "wall s", "calls/s"],
      ["per-call L402", CALLS, perCallPayments, perCallSeconds.toFixed(1), (CALLS / perCallSeconds).toFixed(1)],
      ["prepaid metering", CALLS, prepaidPayments, prepaidSeconds.toFixed(1), (CALLS / prepaidSeconds).toFixed(1)],
    ];
    for (const row of rows) console.log(row.map((cell) => String(cell).padEnd(18)).join(""));
    console.log(
      `payments ratio prepaid/per-call: ${prepaidPayments}/${perCallPayments} = ${(prepaidPayments / perCallPayments).toFixed(3)}`,
    );
    console.log(`throughput ratio prepaid/per-call: ${(perCallSeconds / prepaidSeconds).toFixed(2)}`);
    const paidMs = median(firstPaid);
    const baseMs = median(unpaidPlusPayment);
    console.log(
      `first paid call (402 + pay + retry), median of 7: ${paidMs.toFixed(0)} ms; unpaid call + one payment: ${baseMs.toFixed(0)} ms; ratio ${(paidMs / baseMs).toFixed(2)}`,
    );
  } finally {
    await gateway.close();
    await backend.close();
    await network.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
