import { BALANCE_PATH, type BalanceReply, balanceReplySchema } from "@l402-gateway/l402";
import { type SendOptions, sendFollowing } from "./redirects.js";
import { ReplayableRequest } from "./request-body.js";
import type { StoredToken } from "./store/state.js";

/** A held credential and what its gateway says is left on it. */
export interface TokenBalance {
  readonly origin: string;
  readonly service: string;
  readonly paymentHash: string;
  /** The gateway's answer; null when it gave none (`error` says why). */
  readonly account: BalanceReply | null;
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
    const parsed = balanceReplySchema.safeParse(json);
    if (response.status === 200 && parsed.success) return { ...held, account: parsed.data, error: null };
    return { ...held, account: null, error: `HTTP ${response.status} from ${BALANCE_PATH}` };
  } catch (error) {
    return { ...held, account: null, error: error instanceof Error ? error.message : String(error) };
  }
}
