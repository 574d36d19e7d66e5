import {
  type ChatHistoryItem,
  LlamaChat,
  LlamaCompletion,
  type LlamaContextSequence,
  type LlamaGrammar,
  type Token,
} from "node-llama-cpp";
import type { FinishReason } from "../metrics.js";
import { alignBatches } from "./batch-alignment.js";
import type { LoadedModel } from "./model.js";

/** One context sequence with the stateless evaluators bound to it; a request holds a slot exclusively. */
export interface Slot {
  readonly index: number;
  readonly sequence: LlamaContextSequence;
  readonly chat: LlamaChat;
  readonly completion: LlamaCompletion;
}

export function createSlots(loaded: LoadedModel): Slot[] {
  const slots: Slot[] = [];
  while (loaded.context.sequencesLeft > 0) {
    const sequence = loaded.context.getSequence();
    alignBatches(sequence);
    slots.push({
      index: slots.length,
      sequence,
      chat: new LlamaChat({ contextSequence: sequence, autoDisposeSequence: false }),
      completion: new LlamaCompletion({ contextSequence: sequence, autoDisposeSequence: false }),
    });
  }
  return slots;
}

export interface SamplingParams {
  maxTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  stop: string[];
  grammar?: LlamaGrammar;
}

export type GenerationInput =
  | { kind: "chat"; history: ChatHistoryItem[]; promptTokens: readonly Token[] }
  | { kind: "completion"; prompt: string; promptTokens: readonly Token[] };

/** llama.cpp server's per-request `timings` object. */
export interface Timings {
  cache_n: number;
  prompt_n: number;
  prompt_ms: number;
  prompt_per_token_ms: number;
  prompt_per_second: number;
  predicted_n: number;
  predicted_ms: number;
  predicted_per_token_ms: number;
  predicted_per_second: number;
}

export interface GenerationResult {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  /** Tokens the model actually sampled (an aborted request counts only what was generated before the abort). */
  completionTokens: number;
  timings: Timings;
  /** Seconds from the start of evaluation to the first sampled token. */
  timeToFirstTokenSeconds: number | null;
  interTokenSeconds: number[];
}

export interface GenerationCallbacks {
  signal: AbortSignal;
  onText?: (text: string) => void;
  /** Called as tokens are sampled, for live throughput figures. */
  onTokens?: (count: number) => void;
}

const STOP_REASON_TO_FINISH: Record<string, FinishReason> = {
  eogToken: "stop",
  stopGenerationTrigger: "stop",
  customStopTrigger: "stop",
  functionCalls: "stop",
  maxTokens: "length",
  abort: "abort",
};

function commonPrefixLength(a: readonly Token[], b: readonly Token[]): number {
  const limit = Math.min(a.length, b.length);
  let index = 0;
  while (index < limit && a[index] === b[index]) index++;
  return index;
}

/** How many prompt tokens a slot's sequence already holds, so its KV cache can be reused. */
export function cachedPrefixLength(slot: Slot, promptTokens: readonly Token[]): number {
  return commonPrefixLength(slot.sequence.contextTokens, promptTokens);
}

/**
 * Scores an idle slot for a prompt: the longest reusable prefix wins while nothing else runs. A slot that holds tokens
 * past the shared prefix must erase them first, and node-llama-cpp (3.22) erases under the context lock that its decode
 * loop keeps for as long as any decode is queued. With other sequences generating, that queue rarely empties, so the
 * erase, and with it the request's first token, waits until they have all ended (measured: 4.4 s behind two streams).
 * While any other slot is busy, every slot that needs no erase therefore ranks above every slot that does.
 */
export function slotPreference(slot: Slot, promptTokens: readonly Token[], busySlots: number): number {
  const reusable = cachedPrefixLength(slot, promptTokens);
  const needsErase = reusable < slot.sequence.contextTokens.length;
  if (needsErase && busySlots > 0) return reusable - Number.MAX_SAFE_INTEGER;
  return reusable;
}

export function chatPromptTokens(
  loaded: LoadedModel,
  chatWrapper: LlamaChat["chatWrapper"],
  history: ChatHistoryItem[],
): Token[] {
  // The same rendering LlamaChat.generateResponse evaluates, so the count is exactly what the model sees.
  const { contextText } = chatWrapper.generateContextState({ chatHistory: history });
  return contextText.tokenize(loaded.model.tokenizer);
}

/** Mirrors LlamaCompletion's input tokenization (BOS first when the model wants one). */
export function completionPromptTokens(loaded: LoadedModel, prompt: string): Token[] {
  const { tokens } = loaded.model;
  if (tokens.shouldPrependBosToken && tokens.bos !== null) {
    return [tokens.bos, ...loaded.model.tokenize(prompt, false, "trimLeadingSpace")];
  }
  return loaded.model.tokenize(prompt);
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function perSecond(count: number, ms: number): number {
  return ms > 0 ? round((count * 1000) / ms) : 0;
}

export async function generate(
  slot: Slot,
  input: GenerationInput,
  params: SamplingParams,
  callbacks: GenerationCallbacks,
): Promise<GenerationResult> {
  // The last prompt token is always evaluated again to get logits, as llama.cpp's cache_n also reflects.
  const cacheN = Math.max(0, Math.min(cachedPrefixLength(slot, input.promptTokens), input.promptTokens.length - 1));
  const meterBefore = slot.sequence.tokenMeter.getState();
  const startedAt = performance.now();
  let firstTokenAt: number | null = null;
  let lastTokenAt = startedAt;
  const interTokenSeconds: number[] = [];
  const onToken = (tokens: Token[]) => {
    const now = performance.now();
    if (firstTokenAt === null) firstTokenAt = now;
    else interTokenSeconds.push((now - lastTokenAt) / 1000 / Math.max(tokens.length, 1));
    lastTokenAt = now;
    callbacks.onTokens?.(tokens.length);
  };
  // Off unless asked for: node-llama-cpp's default collects the last 64 tokens for a penalty of 1 (no effect) on every token.
  const repeatPenalty =
    params.frequencyPenalty || params.presencePenalty
      ? { frequencyPenalty: params.frequencyPenalty, presencePenalty: params.presencePenalty }
      : (false as const);
  const common = {
    maxTokens: params.maxTokens,
    temperature: params.temperature,
    topP: params.topP,
    topK: params.topK,
    seed: params.seed,
    repeatPenalty,
    customStopTriggers: params.stop.length > 0 ? params.stop : undefined,
    grammar: params.grammar,
    signal: callbacks.signal,
    stopOnAbortSignal: true,
    onToken,
    onTextChunk: callbacks.onText,
  };

  let text = "";
  let stopReason = "abort";
  try {
    if (input.kind === "chat") {
      const response = await slot.chat.generateResponse(input.history, common);
      text = response.response;
      stopReason = response.metadata.stopReason;
    } else {
      const response = await slot.completion.generateCompletionWithMeta(input.prompt, {
        ...common,
        disableContextShift: true,
      });
      text = response.response;
      stopReason = response.metadata.stopReason;
    }
  } catch (error) {
    // An abort that lands before the first token (during prompt evaluation) throws instead of stopping.
    if (!callbacks.signal.aborted) throw error;
  }
  const endedAt = performance.now();
  const used = slot.sequence.tokenMeter.diff(meterBefore);
  // node-llama-cpp's meter can count one more output token than maxTokens: a sampled token that ends mid-character is
  // completed before the text is cut, and that text never reaches the client. max_tokens is a hard limit of the API
  // (the gateway reserves and bills exactly that much), so the count reported and metered never exceeds it.
  const completionTokens = Math.min(used.usedOutputTokens, params.maxTokens);
  const promptN = input.promptTokens.length - cacheN;
  const promptMs = (firstTokenAt ?? endedAt) - startedAt;
  const predictedMs = firstTokenAt === null ? 0 : endedAt - firstTokenAt;
  return {
    text,
    finishReason: callbacks.signal.aborted ? "abort" : (STOP_REASON_TO_FINISH[stopReason] ?? "stop"),
    promptTokens: input.promptTokens.length,
    completionTokens,
    timeToFirstTokenSeconds: firstTokenAt === null ? null : (firstTokenAt - startedAt) / 1000,
    interTokenSeconds,
    timings: {
      cache_n: cacheN,
      prompt_n: promptN,
      prompt_ms: round(promptMs),
      prompt_per_token_ms: promptN > 0 ? round(promptMs / promptN) : 0,
      prompt_per_second: perSecond(promptN, promptMs),
      predicted_n: completionTokens,
      predicted_ms: round(predictedMs),
      predicted_per_token_ms: completionTokens > 0 ? round(predictedMs / completionTokens) : 0,
      predicted_per_second: perSecond(completionTokens, predictedMs),
    },
  };
}
