import { z } from "zod";

/**
 * The fields of a decoded BOLT11 invoice (as the `invoices` package's `parsePaymentRequest` returns them, which
 * also checks the signature) that the gateway and the agent client read; anything else in the answer is dropped.
 */
export const decodedBolt11Schema = z.object({
  /** The payment hash. */
  id: z.string().regex(/^[0-9a-f]{64}$/),
  /** The payee's node public key. */
  destination: z.string().regex(/^[0-9a-f]{66}$/),
  expires_at: z.iso.datetime({ offset: true }),
  /** Absent for an amountless invoice. */
  mtokens: z
    .string()
    .regex(/^[0-9]+$/)
    .optional(),
  /** The package's name for the network ("bitcoin" for mainnet); see `invoiceNetwork` for the Payment drafts' names. */
  network: z.string(),
  /** The final CLTV delta; BOLT 11 means 18 when absent. */
  cltv_delta: z.number().int().nonnegative().optional(),
  /** Route hints, each a list of hops. */
  routes: z.array(z.array(z.object({ cltv_delta: z.number().int().nonnegative().optional() }))).optional(),
});
export type DecodedBolt11 = z.infer<typeof decodedBolt11Schema>;
