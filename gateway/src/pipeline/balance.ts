import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "../http/json.js";
import { sendRefusal } from "../http/refusal.js";
import type { Authenticator } from "../tokens/authenticator.js";
import { credentialHeaders } from "../tokens/credential-headers.js";
import type { Outcome } from "./outcome.js";

/** GET /l402/balance: an agent reads its prepaid balance with the same credential it pays with. */
export async function answerBalance(
  authenticator: Authenticator,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<Outcome> {
  req.resume();
  const auth = await authenticator.identify(credentialHeaders(req));
  if (!auth.ok) return sendRefusal(res, { status: 401, code: auth.code, message: auth.message });
  const { token } = auth;
  sendJson(
    res,
    200,
    {
      token_id: token.tokenId,
      service: token.service,
      metered: token.metered,
      balance_msat: token.account.balanceMsat,
      reserved_msat: token.account.reservedMsat,
      credited_msat: token.account.creditedMsat,
      charged_msat: token.account.chargedMsat,
      requests: token.account.requests,
      valid_until: token.validUntil.toISOString(),
    },
    { "cache-control": "no-store" },
  );
  return { status: 200 };
}
