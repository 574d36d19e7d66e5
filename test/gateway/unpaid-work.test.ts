import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningGateway, startGateway } from "../../gateway/src/server.js";
import { offlineGatewayConfig } from "../../gateway/src/test-support/offline-config.js";
import { settledAccountOf } from "../support/account.js";
import { buyMeteredToken, KnownPreimageInvoices } from "../support/known-preimage-invoices.js";
import { fakeChatTokens, type LiberalUpstream, startLiberalUpstream } from "../support/liberal-llm-upstream.js";

const FEE_MSAT = 11;
const PROMPT_MSAT = 3;
const messages = [{ role: "user", content: "What does a sat buy?" }];
const chat = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: "m", messages, ...extra });
const JSON_TYPE = { "content-type": "application/json" };

/** Work that anyone can cause without paying stays bounded, and work the upstream did is paid for. */
describe("no free work before payment", () => {
  let upstream: LiberalUpstream;
  let gateway: RunningGateway;
  const invoices = new KnownPreimageInvoices();
  let authorization = "";

  beforeAll(async () => {
    upstream = await startLiberalUpstream();
    const config = offlineGatewayConfig({
      // Three challenges, and practically no refill: the test cannot outrun or be outrun by the limit.
      limits: { challengeBurst: 3, challengesPerMinute: 0.001 },
      services: [
        {
          name: "llm",
          match: { pathPrefix: "/v1/" },
          upstream: upstream.url,
          upstreamPool: { healthIntervalMs: 600_000 },
          pricing: {
            rules: [{ tokens: { promptMsatPerToken: PROMPT_MSAT, completionMsatPerToken: 7 }, feeMsat: FEE_MSAT }],
            deposit: { minMsat: 1_000, maxMsat: 10_000_000 },
          },
        },
      ],
    });
    gateway = await startGateway(config, { backend: invoices, log: pino({ level: "silent" }) });
    authorization = await buyMeteredToken(gateway.url, invoices, 5_000_000);
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const charged = async () => (await settledAccountOf(gateway.url, authorization)).charged_msat;

  it("counts an unpaid request's tokens only after it took a challenge from the rate limit", async () => {
    const countsBefore = upstream.calls.tokenCounts;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: JSON_TYPE,
        body: chat(),
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    // One of the three challenges bought the token above.
    expect(statuses).toEqual([402, 402, 429, 429, 429]);
    expect(upstream.calls.tokenCounts - countsBefore).toBe(2);
  });

  it("still serves and counts a paid request when the client's challenges are used up", async () => {
    const countsBefore = upstream.calls.tokenCounts;
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...JSON_TYPE, authorization },
      body: chat({ max_tokens: 4 }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(upstream.calls.tokenCounts - countsBefore).toBe(1);
  });

  it("charges the prompt of a stream the upstream accepted, when the client leaves before any token", async () => {
    const before = await charged();
    const abort = new AbortController();
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...JSON_TYPE, authorization },
      body: chat({ stream: true, user: "hang", max_tokens: 8 }),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(Buffer.from(first?.value ?? []).toString()).toContain('"content":""');
    abort.abort();
    expect((await charged()) - before).toBe(fakeChatTokens(messages) * PROMPT_MSAT + FEE_MSAT);
  });

  it("answers a flood of public /readyz calls with one check; the operator's /readyz checks every time", async () => {
    const before = upstream.calls.health;
    const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`${gateway.url}/readyz`)));
    expect(answers.map((res) => res.status)).toEqual(Array(20).fill(200));
    expect(upstream.calls.health - before).toBe(1);
    const operatorBefore = upstream.calls.health;
    for (let i = 0; i < 3; i++) expect((await fetch(`${gateway.operatorUrl}/readyz`)).status).toBe(200);
    expect(upstream.calls.health - operatorBefore).toBe(3);
  });
});
