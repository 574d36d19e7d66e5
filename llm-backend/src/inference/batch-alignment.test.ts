import { getLlama, LlamaChat, type LlamaContext } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alignBatches } from "./batch-alignment.js";
import { defaultModelPath } from "./default-model.js";

const STREAMS = 4;
const MAX_TOKENS = 16;
const PROMPTS = [
  "Write a very long story about a dragon.",
  "Write a long poem about the sea at night.",
  "Explain in detail how rain forms.",
  "Tell a long story about a robot who paints.",
];

/** Counts the decode batches of a context, by the tokens in each (node-llama-cpp's native context, wrapped). */
function countBatches(context: LlamaContext): Map<number, number> {
  const sizes = new Map<number, number>();
  const internals = context as unknown as { _ctx: { initBatch(size: number): void } };
  const native = internals._ctx;
  internals._ctx = new Proxy(native, {
    get(target, property) {
      if (property === "initBatch") {
        return (size: number) => {
          sizes.set(size, (sizes.get(size) ?? 0) + 1);
          return target.initBatch(size);
        };
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return sizes;
}

describe("batch alignment (real model)", () => {
  let llama: Awaited<ReturnType<typeof getLlama>>;
  beforeAll(async () => {
    process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= "true";
    // One thread: what is counted is batches, not speed, and llama.cpp's threads waiting at barriers for one another
    // slow it down many times over on busy shared cores.
    llama = await getLlama({ build: "never", gpu: false, maxThreads: 1 });
  }, 300_000);
  afterAll(async () => {
    await llama?.dispose();
  });

  it("decodes every generating sequence's next token in one batch", async () => {
    const model = await llama.loadModel({ modelPath: defaultModelPath() });
    const context = await model.createContext({ sequences: STREAMS, contextSize: 512, threads: 1 });
    const sizes = countBatches(context);
    const chats = PROMPTS.map(() => {
      const sequence = context.getSequence();
      alignBatches(sequence);
      return new LlamaChat({ contextSequence: sequence });
    });
    const generated = await Promise.all(
      chats.map(async (chat, i) => {
        const before = chat.sequence.tokenMeter.getState();
        await chat.generateResponse(
          [
            { type: "user", text: PROMPTS[i] ?? "" },
            { type: "model", response: [] },
          ],
          { maxTokens: MAX_TOKENS, temperature: 0 },
        );
        return chat.sequence.tokenMeter.diff(before).usedOutputTokens;
      }),
    );
    // Every stream runs to max_tokens, so the batches after the prompts' must each carry all four.
    expect(generated.every((count) => count >= MAX_TOKENS)).toBe(true);
    const batches = [...sizes.values()].reduce((a, b) => a + b, 0);
    const fullBatches = sizes.get(STREAMS) ?? 0;
    // Without alignment: about MAX_TOKENS * 4/3 batches of 3 tokens. With it: the prompt batch, then batches of 4.
    expect(fullBatches).toBeGreaterThanOrEqual(MAX_TOKENS - 2);
    expect(batches).toBeLessThanOrEqual(MAX_TOKENS + 2);
    await context.dispose();
    await model.dispose();
  }, 300_000);
});
