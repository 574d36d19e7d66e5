import { Transform, type TransformCallback } from "node:stream";
import { z } from "zod";

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

const usageSchema = z.looseObject({
  prompt_tokens: z.number().int().min(0),
  completion_tokens: z.number().int().min(0),
});

const chunkSchema = z.looseObject({
  usage: z.unknown().optional(),
  choices: z
    .array(
      z.looseObject({
        delta: z.looseObject({ content: z.string().nullish() }).nullish(),
        text: z.string().nullish(),
        message: z.looseObject({ content: z.string().nullish() }).nullish(),
      }),
    )
    .nullish(),
});

function usageOf(value: unknown): Usage | undefined {
  const parsed = usageSchema.safeParse(value);
  return parsed.success
    ? { promptTokens: parsed.data.prompt_tokens, completionTokens: parsed.data.completion_tokens }
    : undefined;
}

/** The usage of a whole (non-streamed) OpenAI-style JSON response, if it reports one. */
export function usageFromJson(body: Buffer): Usage | undefined {
  try {
    const json: unknown = JSON.parse(body.toString("utf8"));
    return typeof json === "object" && json !== null && "usage" in json ? usageOf(json.usage) : undefined;
  } catch {
    return undefined;
  }
}

const EVENT_END = /\r?\n\r?\n/;

/**
 * Passes an OpenAI-style SSE stream through event by event while reading it: it records the usage chunk (and drops
 * it when the client did not ask for it), keeps the text delivered so far (to count the tokens of a stream cut
 * short), and just before `data: [DONE]` writes the comment that `beforeDone` returns (the call's cost).
 */
export class SseUsageTap extends Transform {
  usage: Usage | undefined;
  deliveredText = "";
  /** Events that carried generated text: one per token for llama.cpp-style servers. */
  deliveredChunks = 0;
  private pending = "";

  constructor(
    private readonly dropUsageChunk: boolean,
    private readonly beforeDone: () => Promise<string>,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending += chunk.toString("utf8");
    void this.drain().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.pending.length > 0) this.push(this.pending);
    this.pending = "";
    callback();
  }

  private async drain(): Promise<void> {
    for (let match = EVENT_END.exec(this.pending); match; match = EVENT_END.exec(this.pending)) {
      const end = match.index + match[0].length;
      const event = this.pending.slice(0, end);
      this.pending = this.pending.slice(end);
      await this.handleEvent(event);
    }
  }

  private async handleEvent(event: string): Promise<void> {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trimStart())
      .join("\n");
    if (data.trim() === "[DONE]") {
      this.push(await this.beforeDone());
      this.push(event);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      this.push(event);
      return;
    }
    const parsed = chunkSchema.safeParse(json);
    if (!parsed.success) {
      this.push(event);
      return;
    }
    const usage = usageOf(parsed.data.usage);
    const choices = parsed.data.choices ?? [];
    for (const choice of choices) {
      const text = choice.delta?.content ?? choice.text ?? "";
      this.deliveredText += text;
      if (text !== "") this.deliveredChunks += 1;
    }
    if (usage) {
      this.usage = usage;
      if (this.dropUsageChunk && choices.length === 0) return;
    }
    this.push(event);
  }
}
