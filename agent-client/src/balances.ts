import { z } from "zod";
import { BALANCE_PATH } from "./gateway-quote.js";
import { type SendOptions, sendFollowing } from "./redirects.js";
import { ReplayableRequest } from "./request-body.js";
import type { StoredToken } from "./store/state.js";

const balanceSchema = z.object({
  metered: z.boolean(),
  balance_msat: z.number().int(),
  reserved_msat: z.number().int(),
  credited_msat: z.number().int(),
  charged_msat: z.number().int(),
  requests: z.number().int(),
  valid_until: z.string(),
});

/** A held credential and what its gateway says is left on it. */
export interface TokenBalance {
  readonly origin: string;
  readonly service: string;
  readonly paymentHash: string;
  /** The gateway's answer; null when it gave none (`error` says why). */
  readonly account: z.infer<typeof balanceSchema> | null;
  readonly error: string | null;
}

/** Asks the token's gateway (`/l402/balance`, with the credential itself) for the prepaid balance left on it. */
export async function balanceOf(
  token: StoredToken,
  authorization: string,
  options: SendOptions,
): Promise<TokenBalance> {
  const held = { origin: token.origin, service: token.service, paymentHash: token.paymentHash };
  const request = await ReplayableRequest.from(new URL(BALANCE_PATH, token.origin));
  try {
    const response = await sendFollowing(request, authorization, options);
    const json: unknown = await response.json().catch(() => undefined);
    const parsed = balanceSchema.safeParse(json);
    if (response.status === 200 && parsed.success) return { ...held, account: parsed.data, error: null };
    return { ...held, account: null, error: `HTTP ${response.status} from ${BALANCE_PATH}` };
  } catch (error) {
    return { ...held, account: null, error: error instanceof Error ? error.message : String(error) };
  }
}
