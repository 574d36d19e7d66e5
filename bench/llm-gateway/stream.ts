/** One streamed chat completion, timed by the client: the same code measures a server directly and through the gateway. */

export interface ChatTarget {
  /** Base URL whose `/v1/chat/completions` is called. */
  readonly url: string;
  /** The gateway's paid credential; none for the server itself. */
  readonly authorization?: string;
}

export interface ChatRequest {
  readonly model: string;
  readonly prompt: string;
  readonly maxTokens: number;
}

export interface StreamTiming {
  /** Milliseconds from sending the request to the first event carrying generated text. */
  readonly ttftMs: number;
  /** Milliseconds from sending the request to the end of the stream. */
  readonly totalMs: number;
  /** Completion tokens the server reported in its usage chunk. */
  readonly tokens: number;
  /** The generated text, to check that both sides produced the same answer. */
  readonly text: string;
}

/** Generated tokens per second over the whole request (its first token's wait included). */
export const tokensPerSecond = (timing: StreamTiming) => timing.tokens / (timing.totalMs / 1000);

interface ChunkShape {
  choices?: { delta?: { content?: string | null } }[];
  usage?: { completion_tokens?: number } | null;
}

/**
 * Streams `request` (temperature 0, the usage chunk asked for) and reads it event by event as it arrives. Fails on
 * an answer other than 200, or a stream that reports no usage.
 */
export async function streamChat(target: ChatTarget, request: ChatRequest): Promise<StreamTiming> {
  const body = JSON.stringify({
    model: request.model,
    messages: [{ role: "user", content: request.prompt }],
    max_tokens: request.maxTokens,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (target.authorization) headers.authorization = target.authorization;
  const started = performance.now();
  const response = await fetch(`${target.url}/v1/chat/completions`, { method: "POST", headers, body });
  if (response.status !== 200 || !response.body) {
    throw new Error(`${target.url} answered ${response.status}: ${await response.text()}`);
  }
  const decoder = new TextDecoder();
  let pending = "";
  let ttftMs: number | undefined;
  let tokens: number | undefined;
  let text = "";
  for await (const bytes of response.body) {
    pending += decoder.decode(bytes, { stream: true });
    for (let end = pending.indexOf("\n\n"); end >= 0; end = pending.indexOf("\n\n")) {
      const event = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const data = event
        .split("\n")
        .find((line) => line.startsWith("data: "))
        ?.slice(6);
      if (data === undefined || data === "[DONE]") continue;
      const chunk = JSON.parse(data) as ChunkShape;
      const content = chunk.choices?.[0]?.delta?.content;
      if (content) {
        ttftMs ??= performance.now() - started;
        text += content;
      }
      if (typeof chunk.usage?.completion_tokens === "number") tokens = chunk.usage.completion_tokens;
    }
  }
  const totalMs = performance.now() - started;
  if (ttftMs === undefined || tokens === undefined) {
    throw new Error(`${target.url} streamed ${ttftMs === undefined ? "no text" : "no usage"}`);
  }
  return { ttftMs, totalMs, tokens, text };
}
