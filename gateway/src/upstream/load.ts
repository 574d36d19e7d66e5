import { z } from "zod";

/** Load fields of an OpenAI-compatible backend's `/health` (llm-backend; llama.cpp and vLLM through an adapter). */
export const upstreamLoadSchema = z.looseObject({
  busy_sequences: z.number().min(0),
  queue_depth: z.number().min(0),
  slots_total: z.number().min(0),
});

export type UpstreamLoad = z.infer<typeof upstreamLoadSchema>;
