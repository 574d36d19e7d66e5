import { availableParallelism } from "node:os";
import { z } from "zod";
import type { GatewayConfig } from "../config/schema.js";
import { pricingSchema } from "../pricing/schema.js";

/** The worker count `workers` asks for: `auto` is one per core. */
export function workerCount(workers: GatewayConfig["workers"]): number {
  return workers === "auto" ? availableParallelism() : workers;
}

/** What the primary and its workers tell each other over the cluster's IPC channel; checked on arrival. */
export const workerMessageSchema = z.discriminatedUnion("type", [
  /** Worker → primary, once its modules are loaded: it can take its start message (one sent earlier would be lost). */
  z.object({ type: z.literal("l402:hello") }),
  /** Primary → worker, the answer to hello: what to run. */
  z.object({
    type: z.literal("l402:start"),
    config: z.unknown(),
    configPath: z.string().optional(),
    leader: z.boolean(),
    storeOwner: z.string(),
  }),
  /** Worker → primary: it listens. */
  z.object({
    type: z.literal("l402:listening"),
    url: z.string(),
    operatorUrl: z.string(),
    adminUrl: z.string().optional(),
  }),
  /** Leader → primary → the other workers: the admin API changed a price. */
  z.object({ type: z.literal("l402:prices"), service: z.string(), pricing: pricingSchema }),
  /** Primary → worker: close gracefully and exit. */
  z.object({ type: z.literal("l402:shutdown") }),
]);

export type WorkerMessage = z.infer<typeof workerMessageSchema>;

/** A message of ours, or undefined for anything else on the channel (prom-client's metric requests, for one). */
export function readMessage(raw: unknown): WorkerMessage | undefined {
  const parsed = workerMessageSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}
