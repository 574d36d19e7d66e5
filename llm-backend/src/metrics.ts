import { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * Metric names follow vLLM's (`vllm:` → `llm:`), so dashboards built for vLLM need only the prefix changed.
 * The only labels are `model` and, on request_success_total, `finish_reason`; error kinds get one counter each.
 */
export const METRIC_PREFIX = "llm:";

export type FinishReason = "stop" | "length" | "abort";

export type ErrorKind = "invalid_request" | "context_length_exceeded" | "queue_full" | "internal";

export interface LoadSnapshot {
  running: number;
  waiting: number;
  totalSequences: number;
  tokensPerSecond: number;
}

const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160];
const TOKEN_LATENCY_BUCKETS = [0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5];

export class BackendMetrics {
  readonly registry = new Registry();
  readonly promptTokens: Counter<"model">;
  readonly generationTokens: Counter<"model">;
  readonly timeToFirstToken: Histogram<"model">;
  readonly interTokenLatency: Histogram<"model">;
  readonly e2eLatency: Histogram<"model">;
  readonly queueTime: Histogram<"model">;
  readonly requestSuccess: Counter<"model" | "finish_reason">;
  readonly #errors: Record<ErrorKind, Counter<"model">>;

  constructor(
    private readonly model: string,
    load: () => LoadSnapshot,
  ) {
    const registers = [this.registry];
    const labelNames = ["model"] as const;
    const gauge = (name: string, help: string, read: (snapshot: LoadSnapshot) => number) =>
      new Gauge({
        name: METRIC_PREFIX + name,
        help,
        labelNames,
        registers,
        collect() {
          this.set({ model }, read(load()));
        },
      });
    gauge("num_requests_running", "Requests holding a sequence and generating.", (s) => s.running);
    gauge("num_requests_waiting", "Requests queued for a free sequence.", (s) => s.waiting);
    gauge("num_sequences_total", "Sequences (slots) in the context.", (s) => s.totalSequences);
    gauge("generation_tokens_per_second", "Generated tokens per second over the last 10 s.", (s) => s.tokensPerSecond);

    const counter = (name: string, help: string) =>
      new Counter({ name: METRIC_PREFIX + name, help, labelNames, registers });
    this.promptTokens = counter("prompt_tokens_total", "Prompt tokens of admitted requests.");
    this.generationTokens = counter("generation_tokens_total", "Generated tokens.");

    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name: METRIC_PREFIX + name, help, labelNames, registers, buckets });
    this.timeToFirstToken = histogram(
      "time_to_first_token_seconds",
      "Time from admission to first token.",
      LATENCY_BUCKETS,
    );
    this.interTokenLatency = histogram(
      "inter_token_latency_seconds",
      "Time between generated tokens.",
      TOKEN_LATENCY_BUCKETS,
    );
    this.e2eLatency = histogram("e2e_request_latency_seconds", "Time from arrival to last token.", LATENCY_BUCKETS);
    this.queueTime = histogram("request_queue_time_seconds", "Time spent waiting for a sequence.", LATENCY_BUCKETS);

    this.requestSuccess = new Counter({
      name: `${METRIC_PREFIX}request_success_total`,
      help: "Finished generations by finish reason (abort: the client went away mid-generation).",
      labelNames: ["model", "finish_reason"] as const,
      registers,
    });
    this.#errors = {
      invalid_request: counter("request_errors_invalid_request_total", "Requests rejected with 400/413 (bad input)."),
      context_length_exceeded: counter(
        "request_errors_context_length_total",
        "Requests rejected because prompt plus max_tokens exceeds the context.",
      ),
      queue_full: counter("request_errors_queue_full_total", "Requests rejected with 503 because the queue was full."),
      internal: counter("request_errors_internal_total", "Requests that failed with a server error."),
    };
  }

  countError(kind: ErrorKind): void {
    this.#errors[kind].inc({ model: this.model });
  }

  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Tokens per second over a sliding window, for load-based pricing. */
export class ThroughputMeter {
  readonly #events: { at: number; tokens: number }[] = [];

  constructor(private readonly windowMs = 10_000) {}

  record(tokens: number, at = performance.now()): void {
    this.#events.push({ at, tokens });
    this.#prune(at);
  }

  tokensPerSecond(now = performance.now()): number {
    this.#prune(now);
    const first = this.#events[0];
    if (!first) return 0;
    const total = this.#events.reduce((sum, event) => sum + event.tokens, 0);
    const spanMs = Math.max(now - first.at, 1000);
    return (total * 1000) / Math.min(spanMs, this.windowMs);
  }

  #prune(now: number): void {
    while (this.#events.length > 0 && (this.#events[0]?.at ?? now) < now - this.windowMs) this.#events.shift();
  }
}
