import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Account, settledAccountOf } from "../../test/support/account.js";
import { buyMeteredToken, KnownPreimageInvoices } from "../../test/support/known-preimage-invoices.js";
import {
  type FakeKind,
  type FakeUpstream,
  fakeTokens,
  renderChatMl,
  STALL,
  startFakeUpstream,
} from "../../test/support/upstream-kind-fakes.js";
import { configSchema } from "./config/schema.js";
import { GatewayMetrics } from "./metrics/metrics.js";
import { PriceBook } from "./pricing/price-book.js";
import { type RunningGateway, startGateway } from "./server.js";
import { offlineGatewayConfig } from "./test-support/offline-config.js";
import { readLoad } from "./upstream/load.js";

const RATES = { prompt: 3, completion: 7, fee: 11 };
const priceOf = (usage: { promptTokens: number; completionTokens: number }) =>
  usage.promptTokens * RATES.prompt + usage.completionTokens * RATES.completion + RATES.fee;

function meteredService(kind: string, upstream: string, extra: Record<string, unknown> = {}) {
  return {
    name: "llm",
    match: { pathPrefix: "/v1/" },
    upstream,
    upstreamKind: kind,
    freePaths: ["/v1/models"],
    pricing: {
      rules: [{ tokens: { promptMsatPerToken: RATES.prompt, completionMsatPerToken: RATES.completion }, feeMsat: 11 }],
      defaultMaxTokens: 24,
      maxTokensCap: 64,
      deposit: { minMsat: 1_000, maxMsat: 1_000_000_000 },
      ...extra,
    },
  };
}

interface KindCase {
  readonly kind: FakeKind;
  /** The test name: contract tests are those against a documented shape no real server checks here. */
  readonly title: string;
  readonly exact: boolean;
}

const KINDS: readonly KindCase[] = [
  { kind: "llama.cpp", title: "llama.cpp's server (in-process fake of its documented API)", exact: true },
  { kind: "vllm", title: "contract: vLLM's OpenAI-compatible server", exact: true },
  { kind: "ollama", title: "Ollama (in-process fake of its documented API)", exact: false },
  { kind: "openai-compatible", title: "contract: a hosted OpenAI-compatible API", exact: false },
];

describe.each(KINDS)("upstream kind: $title", ({ kind, exact }) => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  const invoices = new KnownPreimageInvoices();
  let authorization = "";
  let model = "";

  beforeAll(async () => {
    upstream = await startFakeUpstream(kind);
    model = upstream.models[0] ?? "";
    const config = offlineGatewayConfig({
      limits: { challengesPerMinute: 1_000, challengeBurst: 1_000 },
      services: [meteredService(kind, upstream.url)],
    });
    gateway = await startGateway(config, { backend: invoices, log: pino({ level: "silent" }) });
    authorization = await buyMeteredToken(gateway.url, invoices, 10_000_000, model);
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization, ...headers },
      body: JSON.stringify(body),
    });
  const messages = [
    { role: "system", content: "You answer in one line." },
    { role: "user", content: "Name three prime numbers, with a café's ünïcode ✓." },
  ];

  /** Sends a call and returns what it was charged (from the account, once settled) and what the upstream served. */
  async function charged(send: () => Promise<Response>): Promise<{ res: Response; text: string; msat: number }> {
    const before: Account = await settledAccountOf(gateway.url, authorization);
    const res = await send();
    const text = await res.text();
    const after = await settledAccountOf(gateway.url, authorization);
    expect(after.credited_msat).toBe(after.charged_msat + after.balance_msat + after.reserved_msat);
    return { res, text, msat: after.charged_msat - before.charged_msat };
  }

  it("quotes the prompt exactly (or by a bound at least the real count) and lists the upstream's model ids", async () => {
    const res = await fetch(`${gateway.url}/l402/quote?method=POST&target=/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, messages }),
    });
    expect(res.status).toBe(200);
    const { quote } = (await res.json()) as { quote: Record<string, unknown> };
    const real = fakeTokens(renderChatMl(messages));
    if (exact) expect(quote.prompt_tokens).toBe(real);
    else expect(quote.prompt_tokens).toBeGreaterThanOrEqual(real);
    expect(quote.prompt_tokens_are).toBe(exact ? "exact" : "upper_bound");
    expect(quote.models).toEqual([...upstream.models].sort());

    const challenge = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, messages }),
    });
    expect(challenge.status).toBe(402);
    const offered = (await challenge.json()) as { quote: Record<string, unknown> };
    expect(offered.quote.models).toEqual([...upstream.models].sort());

    const manifest = (await (await fetch(`${gateway.url}/.well-known/l402.json`)).json()) as {
      services: { models: unknown }[];
    };
    expect(manifest.services[0]?.models).toEqual([...upstream.models].sort());
  });

  it("charges a call the price of the usage the upstream reports, at most what it reserved, and forwards one canonical body with one length field", async () => {
    const served = upstream.served.length;
    const reserved = Number(
      (
        (await (
          await post("/l402/quote?method=POST&target=/v1/chat/completions", { model, messages, max_tokens: 5 })
        ).json()) as {
          reserve_msat: number;
        }
      ).reserve_msat,
    );
    const call = await charged(() => post("/v1/chat/completions", { model, messages, n_predict: 5, max_tokens: 5 }));
    expect(call.res.status).toBe(200);
    const forwarded = upstream.served[served];
    expect(forwarded).toBeDefined();
    if (!forwarded) return;
    expect(forwarded.rawBody).toBe(JSON.stringify(forwarded.body));
    expect(forwarded.body.max_tokens).toBe(5);
    for (const alias of ["n_predict", "max_completion_tokens", "max_new_tokens", "max_output_tokens"]) {
      expect(forwarded.body, alias).not.toHaveProperty(alias);
    }
    expect(call.msat).toBe(priceOf(forwarded));
    expect(Number(call.res.headers.get("x-l402-cost-msat"))).toBe(call.msat);
    expect(call.msat).toBeLessThanOrEqual(reserved);
    expect(forwarded.promptTokens * RATES.prompt + 5 * RATES.completion + RATES.fee).toBeLessThanOrEqual(reserved);
  });

  it("charges a completion (not chat) call its reported usage too", async () => {
    const served = upstream.served.length;
    const call = await charged(() => post("/v1/completions", { model, prompt: "Once upon a time", max_tokens: 4 }));
    expect(call.res.status).toBe(200);
    const forwarded = upstream.served[served];
    expect(forwarded && call.msat).toBe(forwarded && priceOf(forwarded));
  });

  it("asks a stream for its usage, charges it, and hides the usage chunk from a client that did not ask", async () => {
    const served = upstream.served.length;
    const call = await charged(() => post("/v1/chat/completions", { model, messages, stream: true, max_tokens: 3 }));
    expect(call.res.status).toBe(200);
    const forwarded = upstream.served[served];
    expect(forwarded?.body.stream_options).toEqual({ include_usage: true });
    expect(call.text).not.toContain('"usage"');
    expect(call.text).toContain("data: [DONE]");
    expect(call.msat).toBe(forwarded && priceOf(forwarded));
  });

  it("charges a stream the client cuts short its quoted prompt and the one word delivered", async () => {
    const quoted = (await (
      await post("/l402/quote?method=POST&target=/v1/chat/completions", {
        model,
        messages: [{ role: "user", content: STALL }],
        stream: true,
      })
    ).json()) as { quote: { prompt_tokens: number } };
    const before = await settledAccountOf(gateway.url, authorization);
    const abort = new AbortController();
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization },
      body: JSON.stringify({ model, messages: [{ role: "user", content: STALL }], stream: true }),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    let seen = "";
    while (!seen.includes("w0")) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      seen += Buffer.from(chunk.value).toString("utf8");
    }
    expect(seen).toContain("w0");
    abort.abort();
    await reader?.cancel().catch(() => {});
    const after = await settledAccountOf(gateway.url, authorization);
    // Exact kinds count "w0 " with the upstream's tokenizer, the others count the one text event: one token each.
    expect(after.charged_msat - before.charged_msat).toBe(
      priceOf({ promptTokens: quoted.quote.prompt_tokens, completionTokens: 1 }),
    );
  });

  it("refuses several answers and beam search before any work, charging nothing", async () => {
    const served = upstream.served.length;
    for (const multiplier of [{ n: 2 }, { n_cmpl: 2 }, { best_of: 3 }, { use_beam_search: true }]) {
      const call = await charged(() => post("/v1/chat/completions", { model, messages, ...multiplier }));
      expect(call.res.status, JSON.stringify(multiplier)).toBe(400);
      expect((JSON.parse(call.text) as { code: string }).code).toBe("unsupported_parameter");
      expect(call.msat).toBe(0);
    }
    expect(upstream.served.length).toBe(served);
  });

  it.runIf(kind !== "llama.cpp")(
    "refuses a model the upstream does not serve, naming those it does, charging nothing",
    async () => {
      const served = upstream.served.length;
      const call = await charged(() => post("/v1/chat/completions", { model: "no-such-model", messages }));
      expect(call.res.status).toBe(400);
      const error = JSON.parse(call.text) as { code: string; message: string };
      expect(error.code).toBe("unknown_model");
      expect(error.message).toContain(model);
      expect(call.msat).toBe(0);
      expect(upstream.served.length).toBe(served);
    },
  );

  it.runIf(!exact)("refuses content it cannot bound (an image) with the reason, charging nothing", async () => {
    const image = { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } };
    const call = await charged(() =>
      post("/v1/chat/completions", { model, messages: [{ role: "user", content: [image] }] }),
    );
    expect(call.res.status).toBe(400);
    expect(call.text).toContain("only text parts");
    expect(call.msat).toBe(0);
  });
});

describe("upstream kind: a counting set-up that does not fit the server is the operator's, not the client's", () => {
  const cases = [
    // The issue's symptom: the default kind in front of llama.cpp's server, which has no input_tokens endpoint.
    { configured: "l402-llm-backend", runs: "llama.cpp" as FakeKind },
    { configured: "llama.cpp", runs: "ollama" as FakeKind },
    { configured: "vllm", runs: "openai-compatible" as FakeKind },
  ];
  it.each(cases)(
    "$configured in front of $runs: 502 token_counting_misconfigured, no invoice",
    async ({ configured, runs }) => {
      const upstream = await startFakeUpstream(runs);
      const invoices = new KnownPreimageInvoices();
      const config = offlineGatewayConfig({ services: [meteredService(configured, upstream.url)] });
      const gateway = await startGateway(config, { backend: invoices, log: pino({ level: "silent" }) });
      try {
        const res = await fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: upstream.models[0], messages: [{ role: "user", content: "hi" }] }),
        });
        expect(res.status).toBe(502);
        const error = (await res.json()) as { code: string; message: string };
        expect(error.code).toBe("token_counting_misconfigured");
        expect(error.message).toContain("upstreamKind");
        expect(res.headers.get("www-authenticate")).toBeNull();
        expect(upstream.served).toEqual([]);
      } finally {
        await gateway.close();
        await upstream.close();
      }
    },
  );
});

describe("upstream kind: config load", () => {
  const base = { lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" }, store: { path: ":memory:" } };
  const problems = (service: Record<string, unknown>) => {
    const parsed = configSchema.safeParse({ ...base, services: [service] });
    return parsed.success ? [] : parsed.error.issues.map((issue) => issue.message);
  };

  it("refuses a per-token rule on an upstream that reports no usage, saying why", () => {
    const service = { ...meteredService("openai-compatible", "http://127.0.0.1:1"), upstreamReportsUsage: false };
    expect(problems(service).join("\n")).toMatch(/reports none.*charged its whole reservation.*perCallMsat/s);
    const perCall = { ...service, pricing: { rules: [{ perCallMsat: 1_000 }] } };
    expect(problems(perCall)).toEqual([]);
  });

  it("refuses a length field the kind does not obey", () => {
    const service = meteredService("llama.cpp", "http://127.0.0.1:1", { chatLengthField: "max_completion_tokens" });
    expect(problems(service).join("\n")).toContain("does not obey max_completion_tokens");
    expect(
      problems(meteredService("vllm", "http://127.0.0.1:1", { chatLengthField: "max_completion_tokens" })),
    ).toEqual([]);
  });

  it("refuses surge on vLLM without its slot count", () => {
    const service = meteredService("vllm", "http://127.0.0.1:1", { surge: {} });
    expect(problems(service).join("\n")).toContain("--max-num-seqs");
    expect(problems(meteredService("vllm", "http://127.0.0.1:1", { surge: { slotsPerUpstream: 8 } }))).toEqual([]);
  });

  it("holds live price changes (admin API) to the same rules", async () => {
    const secret = randomBytes(32).toString("base64url");
    const service = { ...meteredService("ollama", "http://127.0.0.1:1"), upstreamReportsUsage: false };
    const config = offlineGatewayConfig({
      admin: { port: 0, secret },
      services: [{ ...service, pricing: { rules: [{ perCallMsat: 1_000 }] } }],
    });
    const gateway = await startGateway(config, {
      backend: new KnownPreimageInvoices(),
      log: pino({ level: "silent" }),
    });
    try {
      const put = (pricing: unknown) =>
        fetch(`${gateway.adminUrl}/admin/prices/llm`, {
          method: "PUT",
          headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
          body: JSON.stringify(pricing),
        });
      const refused = await put({ rules: [{ tokens: { promptMsatPerToken: 1, completionMsatPerToken: 1 } }] });
      expect(refused.status).toBe(400);
      expect(await refused.text()).toContain("reports none");
      expect((await put({ rules: [{ perCallMsat: 2_000 }] })).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it("keeps today's behaviour by default: the llm-backend kind", () => {
    const parsed = configSchema.parse({ ...base, services: [meteredService("l402-llm-backend", "http://x")] });
    const { upstreamKind: _kind, ...service } = meteredService("l402-llm-backend", "http://x");
    expect(configSchema.parse({ ...base, services: [service] }).services[0]?.upstreamKind).toBe("l402-llm-backend");
    expect(parsed.services[0]?.upstreamReportsUsage).toBe(true);
  });
});

describe("upstream kind: load readings for surge", () => {
  const options = { healthPath: "/health", timeoutMs: 2_000 };

  it("reads llama.cpp's busy slots from /slots and its deferred requests from /metrics", async () => {
    const upstream = await startFakeUpstream("llama.cpp");
    try {
      upstream.load = { busy: 2, queued: 1, slots: 4 };
      expect(await readLoad("llama.cpp-slots", upstream.url, options)).toEqual({ busy: 2, queued: 1, slots: 4 });
      upstream.load = { busy: 4, queued: 6, slots: 4 };
      expect(await readLoad("llama.cpp-slots", upstream.url, options)).toEqual({ busy: 4, queued: 6, slots: 4 });
    } finally {
      await upstream.close();
    }
  });

  it("contract: vLLM: reads vllm:num_requests_running and vllm:num_requests_waiting from /metrics", async () => {
    const upstream = await startFakeUpstream("vllm");
    try {
      upstream.load = { busy: 3, queued: 5, slots: 0 };
      const reading = await readLoad("vllm-metrics", upstream.url, { ...options, slotsPerUpstream: 8 });
      expect(reading).toEqual({ busy: 3, queued: 5, slots: 8 });
    } finally {
      await upstream.close();
    }
  });

  it("turns surge off, with one log line saying why, for a kind with no load reading (Ollama)", () => {
    const lines: string[] = [];
    const log = pino(
      { level: "info" },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString("utf8"));
          done();
        },
      }),
    );
    const config = offlineGatewayConfig({
      services: [meteredService("ollama", "http://127.0.0.1:1", { surge: {} })],
    });
    const book = new PriceBook(config.services, log, new GatewayMetrics(["llm"]));
    expect(book.surgeMonitor("llm")).toBeUndefined();
    expect(book.multiplierMilli("llm")).toBe(1_000);
    const surgeLines = lines.filter((line) => line.includes("surge pricing off"));
    expect(surgeLines).toHaveLength(1);
    expect(surgeLines[0]).toContain("/api/ps");
  });
});
