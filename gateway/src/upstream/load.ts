import { z } from "zod";
import { upstreamUrl } from "./url.js";

/** Load fields of an OpenAI-compatible backend's `/health` (llm-backend; llama.cpp and vLLM through an adapter). */
export const upstreamLoadSchema = z.looseObject({
  busy_sequences: z.number().min(0),
  queue_depth: z.number().min(0),
  slots_total: z.number().min(0),
});

export type UpstreamLoad = z.infer<typeof upstreamLoadSchema>;

/**
 * The combined load of some upstreams: busy sequences plus queued requests over all their slots, each read from its
 * health endpoint. Upstreams that do not answer are left out; undefined when none answers.
 */
export async function combinedLoad(
  upstreams: readonly string[],
  healthPath: string,
  timeoutMs: number,
  onUnreadable: (upstream: string, error: Error) => void,
): Promise<number | undefined> {
  const readings = await Promise.all(
    upstreams.map(async (upstream) => {
      try {
        const response = await fetch(upstreamUrl(upstream, healthPath), { signal: AbortSignal.timeout(timeoutMs) });
        return upstreamLoadSchema.parse(await response.json());
      } catch (error) {
        onUnreadable(upstream, error as Error);
        return undefined;
      }
    }),
  );
  const answered = readings.filter((r) => r !== undefined);
  if (answered.length === 0) return undefined;
  const work = answered.reduce((sum, r) => sum + r.busy_sequences + r.queue_depth, 0);
  const slots = answered.reduce((sum, r) => sum + r.slots_total, 0);
  return work / Math.max(slots, 1);
}
