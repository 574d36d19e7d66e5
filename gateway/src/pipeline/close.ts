import type { IncomingMessage, ServerResponse } from "node:http";
import { decodeMacaroon, L402Error, parseCredential, preimageProves } from "@l402-gateway/l402";
import { z } from "zod";
import { sendJson } from "../http/json.js";
import { BodyTooLargeError, readBody } from "../http/read-body.js";
import { bodyTooLarge, sendRefusal } from "../http/refusal.js";
import type { CloseReply, Refunds } from "../refunds/refunds.js";
import { closeRefused } from "../refusals/answers.js";
import type { RefundRecord } from "../store/ledger.js";
import type { Accounts, CloseCredentials, TokenRecord } from "../store/store.js";
import type { Authenticator } from "../tokens/authenticator.js";
import { closeAuthority, signatureSha256 } from "../tokens/close-authority.js";
import { credentialHeaders } from "../tokens/credential-headers.js";
import type { Outcome } from "./outcome.js";

const bodySchema = z.object({ invoice: z.string().min(1).max(4096).optional() }).strict();

function refundJson(refund: RefundRecord) {
  return {
    token_id: refund.tokenId,
    refund: {
      amount_msat: refund.amountMsat,
      status: refund.status,
      // Pending with an attempt made: LND has the payment in flight (or has not said yet); nothing else will be paid.
      in_flight: refund.status === "pending" && refund.attempts > 0,
      fee_msat: refund.feeMsat,
      attempts: refund.attempts,
      payment_hash: refund.paymentHash,
      ...(refund.error === undefined ? {} : { error: refund.error }),
    },
  };
}

function send(res: ServerResponse, reply: CloseReply): Outcome {
  if (!reply.ok) return sendRefusal(res, closeRefused(reply.refusal));
  sendJson(res, 200, refundJson(reply.refund), { "cache-control": "no-store" });
  return { status: 200 };
}

const refuse = (res: ServerResponse, status: number, code: string, message: string): Outcome =>
  sendRefusal(res, { status, code, message });

/**
 * `POST /l402/close` with the token's `Authorization: L402 <macaroon>:<preimage>` and a JSON body
 * `{ "invoice": "<BOLT11, amountless or of exactly the balance>" }` (no invoice when the balance is 0): closes a
 * prepaid token and pays its unspent balance back. Answers `{ token_id, refund: { amount_msat, status, fee_msat,
 * attempts, payment_hash, error? } }`. Only the owner closes (see closeAuthority): a credential its holder narrowed
 * gets 403 `close_not_permitted` and changes nothing. A repeated close (the token is then revoked) answers the stored
 * refund, and retries a failed one, to a new invoice when one is given, for the credential that closed the account.
 */
export async function answerClose(
  deps: { authenticator: Authenticator; store: Accounts & CloseCredentials; refunds: Refunds; maxBodyBytes: number },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<Outcome> {
  const { authenticator, store, refunds, maxBodyBytes } = deps;
  let invoice: string | undefined;
  try {
    const raw = await readBody(req, Math.min(maxBodyBytes, 16_384));
    const parsed = bodySchema.safeParse(raw.length === 0 ? {} : JSON.parse(raw.toString("utf8")));
    if (!parsed.success) throw new SyntaxError(parsed.error.issues[0]?.message ?? "invalid body");
    invoice = parsed.data.invoice;
  } catch (error) {
    if (error instanceof BodyTooLargeError) return sendRefusal(res, bodyTooLarge(error.message));
    return refuse(res, 400, "invalid_body", `expected JSON { "invoice": "<bolt11>" }: ${String(error)}`);
  }
  const headers = credentialHeaders(req);
  const auth = await authenticator.identify(headers);
  if (auth.ok) {
    const authority = closeAuthority(auth.caveats, auth.token);
    if (!authority.ok) return refuse(res, 403, NOT_PERMITTED, authority.message);
    // Verified and the owner's: remembered before the close erases the root keys, so that it may retry later.
    const presented = decodeMacaroon(parseCredential(headers).macaroons[0] ?? "");
    await store.recordCloseCredential(auth.token.tokenId, signatureSha256(presented.signature), new Date());
    return send(res, await refunds.close(auth.token, invoice));
  }
  const held = auth.code === "revoked" ? await revokedHolding(store, headers) : undefined;
  if (!held) return refuse(res, 401, auth.code, auth.message);
  const authority = closeAuthority(held.caveats, held.token);
  if (!authority.ok) return refuse(res, 403, NOT_PERMITTED, authority.message);
  if (!(await store.isCloseCredential(held.token.tokenId, held.signatureSha256))) {
    return refuse(
      res,
      403,
      NOT_PERMITTED,
      "this account is closed: only the credential that closed it may read or retry its refund",
    );
  }
  return send(res, await refunds.close(held.token, invoice));
}

const NOT_PERMITTED = "close_not_permitted";

interface RevokedHolding {
  readonly token: TokenRecord;
  /** The presented macaroon's caveats: unauthenticated until its signature matches a recorded close credential. */
  readonly caveats: readonly string[];
  readonly signatureSha256: string;
}

/**
 * The token of a revoked credential whose preimage still proves payment of its invoice. The signature cannot be
 * checked once the root key is erased, so the caller must also find the presented signature among the account's
 * close credentials before trusting its caveats.
 */
async function revokedHolding(
  store: Accounts,
  headers: ReturnType<typeof credentialHeaders>,
): Promise<RevokedHolding | undefined> {
  try {
    const credential = parseCredential(headers);
    const macaroon = decodeMacaroon(credential.macaroons[0] ?? "");
    const { identifier } = macaroon;
    if (!preimageProves(credential.preimage, identifier.paymentHash)) return undefined;
    const token = await store.getToken(identifier.tokenId.toString("hex"));
    return token && { token, caveats: macaroon.caveats, signatureSha256: signatureSha256(macaroon.signature) };
  } catch (error) {
    if (error instanceof L402Error) return undefined;
    throw error;
  }
}
