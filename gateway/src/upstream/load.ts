import { z } from "zod";
import type { LoadSource } from "./kinds.js";
import { upstreamUrl } from "./url.js";

/** Load fields of our llm-backend's `/health`. */
export const upstreamLoadSchema = z.looseObject({
  busy_sequences: z.number().min(0),
  queue_depth: z.number().min(0),
  slots_total: z.number().min(0),
});

export type UpstreamLoad = z.infer<typeof upstreamLoadSchema>;

/** One upstream's reading: sequences busy, requests queued, and sequences it runs at once. */
export interface LoadReading {
  readonly busy: number;
  readonly queued: number;
  readonly slots: number;
}

/** llama.cpp's `/slots`: one entry per slot; `is_processing` (older servers: `state` 1) while it works. */
const llamaSlotsSchema = z.array(
  z.looseObject({ is_processing: z.boolean().optional(), state: z.number().optional() }),
);

/**
 * The sum of a Prometheus text-format sample over all its label sets (`name{…} value` or `name value`); undefined
 * when the text has no such sample.
 */
export function prometheusSum(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    const value = Number(
      rest
        .replace(/^\{[^}]*\}/, "")
        .trim()
        .split(/\s+/)[0],
    );
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}

export interface LoadReadOptions {
  /** The llm-backend's health path (pricing.surge.healthPath). */
  readonly healthPath: string;
  /** Sequences per upstream where the reading does not say (vLLM), or overriding what llama.cpp's /slots says. */
  readonly slotsPerUpstream?: number;
  readonly timeoutMs: number;
}

async function get(upstream: string, path: string, timeoutMs: number): Promise<Response> {
  const response = await fetch(upstreamUrl(upstream, path), { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return response;
}

/** One upstream's load as its kind reports it (see kinds.ts); throws when it cannot be read. */
export async function readLoad(source: LoadSource, upstream: string, options: LoadReadOptions): Promise<LoadReading> {
  const { timeoutMs, slotsPerUpstream } = options;
  switch (source) {
    case "backend-health": {
      const health = upstreamLoadSchema.parse(await (await get(upstream, options.healthPath, timeoutMs)).json());
      return { busy: health.busy_sequences, queued: health.queue_depth, slots: health.slots_total };
    }
    case "llama.cpp-slots": {
      const slots = llamaSlotsSchema.parse(await (await get(upstream, "/slots", timeoutMs)).json());
      const busy = slots.filter((slot) => slot.is_processing === true || slot.state === 1).length;
      // Requests waiting for a slot are only in /metrics (llama-server --metrics); without it, none are counted.
      const metrics = await get(upstream, "/metrics", timeoutMs).then(
        (response) => response.text(),
        () => "",
      );
      const queued = prometheusSum(metrics, "llamacpp:requests_deferred") ?? 0;
      return { busy, queued, slots: slotsPerUpstream ?? slots.length };
    }
    case "vllm-metrics": {
      const metrics = await (await get(upstream, "/metrics", timeoutMs)).text();
      const busy = prometheusSum(metrics, "vllm:num_requests_running");
      const queued = prometheusSum(metrics, "vllm:num_requests_waiting");
      if (busy === undefined || queued === undefined) throw new Error("/metrics has no vllm:num_requests_* gauges");
      if (slotsPerUpstream === undefined) throw new Error("vLLM's slots are not configured (surge.slotsPerUpstream)");
      return { busy, queued, slots: slotsPerUpstream };
    }
    case "none":
      throw new Error("this upstream kind reports no load");
  }
}

/**
 * The combined load of some upstreams: busy sequences plus queued requests over all their slots, each read as its
 * kind reports it. Upstreams that do not answer are left out; undefined when none answers.
 */
export async function combinedLoad(
  upstreams: readonly string[],
  source: LoadSource,
  options: LoadReadOptions,
  onUnreadable: (upstream: string, error: Error) => void,
): Promise<number | undefined> {
  const readings = await Promise.all(
    upstreams.map(async (upstream) => {
      try {
        return await readLoad(source, upstream, options);
      } catch (error) {
        onUnreadable(upstream, error as Error);
        return undefined;
      }
    }),
  );
  const answered = readings.filter((r) => r !== undefined);
  if (answered.length === 0) return undefined;
  const work = answered.reduce((sum, r) => sum + r.busy + r.queued, 0);
  const slots = answered.reduce((sum, r) => sum + r.slots, 0);
  return work / Math.max(slots, 1);
}
