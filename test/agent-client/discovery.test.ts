import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createL402Client, FileStore } from "@l402-gateway/agent-client";
import type { RunningGateway } from "@l402-gateway/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeChatTokens, type LiberalUpstream, startLiberalUpstream } from "../support/liberal-llm-upstream.js";
import {
  added,
  bobCliEnv,
  bobPaymentHashes,
  bobWallet,
  expectBooksToBalance,
  runCli,
  startTestGateway,
  tempStorePath,
} from "./support.js";

const RATES = { promptMsatPerToken: 40, completionMsatPerToken: 90 };
const FEE_MSAT = 700;
const FLAT_MSAT = 3_000;
const messages = [{ role: "user", content: "What is the price of a question?" }];
const JSON_TYPE = { "content-type": "application/json" };

describe("price discovery from the agent client, paid for real on regtest", () => {
  let upstream: LiberalUpstream;
  let gateway: RunningGateway;
  const storePath = join(mkdtempSync(join(tmpdir(), "l402-discovery-gw-")), "gateway.sqlite");

  beforeAll(async () => {
    upstream = await startLiberalUpstream();
    gateway = await startTestGateway(upstream.url, {
      store: { path: storePath },
      services: [
        {
          name: "llm",
          match: { pathPrefix: "/v1/" },
          upstream: upstream.url,
          pricing: {
            rules: [
              { model: "flat", perCallMsat: FLAT_MSAT },
              { tokens: RATES, feeMsat: FEE_MSAT },
            ],
            defaultMaxTokens: 24,
          },
        },
      ],
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const chatUrl = () => `${gateway.url}/v1/chat/completions`;
  const chat = (model: string, maxTokens: number): RequestInit => ({
    method: "POST",
    headers: JSON_TYPE,
    body: JSON.stringify({ model, messages, max_tokens: maxTokens }),
  });

  it("quotes before paying; the payment is the quoted invoice and the call is charged at the quoted rates", async () => {
    const client = createL402Client({ wallet: bobWallet(), store: new FileStore(tempStorePath()) });
    const before = await bobPaymentHashes();
    const quote = await client.quote(chatUrl(), chat("m", 20));
    const promptTokens = fakeChatTokens(messages);
    const reserve = promptTokens * RATES.promptMsatPerToken + 20 * RATES.completionMsatPerToken + FEE_MSAT;
    expect(quote).toMatchObject({ service: "llm", kind: "metered", reserveMsat: reserve, refusal: null });
    expect(quote.invoiceSats).toBe(Math.ceil(reserve / 1000));
    // Asking the price paid nothing and created no invoice to pay.
    expect(added(before, await bobPaymentHashes())).toEqual([]);

    const response = await client.fetch(chatUrl(), chat("m", 20));
    expect(response.status).toBe(200);
    const { usage } = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    const [receipt] = await client.receipts();
    // The client prepays five calls at the quoted price (its default deposit), as the quote said it would.
    expect(quote.depositSats).toBe(Math.ceil((5 * reserve) / 1000));
    expect(receipt).toMatchObject({ status: "succeeded", amountSats: quote.depositSats });
    const charged = Number(response.headers.get("x-l402-cost-msat"));
    expect(charged).toBe(
      usage.prompt_tokens * RATES.promptMsatPerToken +
        usage.completion_tokens * RATES.completionMsatPerToken +
        FEE_MSAT,
    );
    expect(charged).toBeLessThanOrEqual(quote.reserveMsat ?? 0);
  });

  it("a per-call price is charged exactly as quoted", async () => {
    const client = createL402Client({ wallet: bobWallet(), store: new FileStore(tempStorePath()) });
    const quote = await client.quote(chatUrl(), chat("flat", 5));
    expect(quote).toMatchObject({ kind: "metered", reserveMsat: FLAT_MSAT, invoiceSats: FLAT_MSAT / 1000 });
    const response = await client.fetch(chatUrl(), chat("flat", 5));
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(response.headers.get("x-l402-cost-msat")).toBe(String(FLAT_MSAT));
  });

  it("a budget refuses on the quote, and then the payment is refused too: nothing paid", async () => {
    const client = createL402Client({
      wallet: bobWallet(),
      store: new FileStore(tempStorePath()),
      budget: { totalSats: 1 },
    });
    const before = await bobPaymentHashes();
    const quote = await client.quote(chatUrl(), chat("m", 20));
    expect(quote.refusal?.code).toBe("budget_exceeded");
    await expect(client.fetch(chatUrl(), chat("m", 20))).rejects.toMatchObject({ code: "budget_exceeded" });
    expect(added(before, await bobPaymentHashes())).toEqual([]);
  });

  it("the CLI shows the price before paying, and exits 3 when the cap would refuse it", async () => {
    const env = bobCliEnv(tempStorePath());
    const body = JSON.stringify({ model: "flat", messages });
    const shown = await runCli(["quote", chatUrl(), "-H", "content-type: application/json", "-d", body], env);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ kind: "metered", reserveMsat: FLAT_MSAT, refusal: null });
    expect(shown.stderr).toContain(`reserves up to ${FLAT_MSAT} msat`);
    const capped = await runCli(
      ["quote", chatUrl(), "--max-cost", "2", "-H", "content-type: application/json", "-d", body],
      env,
    );
    expect(capped.code).toBe(3);
    expect(capped.stderr).toContain("over_cap");
  });

  it("keeps the books: LND's settlements, credits, charges and balances agree", async () => {
    await expectBooksToBalance(storePath);
  });
});
