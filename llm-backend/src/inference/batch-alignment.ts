import type { LlamaContextSequence } from "node-llama-cpp";

type AfterBatchHook = (sequenceStateLength: number) => unknown;

/**
 * node-llama-cpp (3.22) decodes the next batch as soon as its batch loop finds decodes queued, without yielding to the
 * event loop. The sequence whose token was sampled last has not queued its next decode by then, so with N sequences
 * generating every batch carries only N-1 of them: measured, 4 streams of 48 tokens took 62 batches of 3 tokens instead
 * of 47 of 4, a third more decodes, each costing about as much as a full one on CPU (the weights are read either way).
 * The loop awaits a per-sequence hook after each batch; making that hook wait for one macrotask lets every generating
 * sequence queue its next token first, so they are decoded together. With one stream it costs one event-loop turn per
 * token. Does nothing where the hook is missing (another node-llama-cpp version).
 */
export function alignBatches(sequence: LlamaContextSequence): void {
  const internals = sequence as unknown as { _takeIntervalCheckpointIfNeededAfterBatch?: AfterBatchHook };
  const hook = internals._takeIntervalCheckpointIfNeededAfterBatch;
  if (typeof hook !== "function") return;
  internals._takeIntervalCheckpointIfNeededAfterBatch = async (sequenceStateLength) => {
    await hook.call(sequence, sequenceStateLength);
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
}
