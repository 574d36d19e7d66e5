import type { IncomingMessage as Request, ServerResponse as Response } from "node:http";
import { problemStatus } from "@l402-gateway/l402";
import type { ServiceConfig } from "../config/schema.js";
import type { Outcome } from "../http/outcome.js";
import type { AuthResult } from "../tokens/authenticator.js";
import type { PaymentGate, PaymentRefusal } from "./gate.js";
import { sendBadRequest, sendReply } from "./respond.js";

export interface PaymentStep {
  /** The request was answered here (session top-up or close, or a 400): its status and code. */
  readonly answered?: Outcome;
  /** The account a Payment credential stands for, or its refusal (answered later with a fresh 402). */
  readonly auth?: AuthResult;
  /** A Payment charge was claimed for this call. */
  readonly charged?: boolean;
  /** The Payment-Receipt to send with a 2xx answer. */
  readonly receipt?: string;
  /** Why a Payment credential was refused: the 402 that answers it carries this problem. */
  readonly refusal?: PaymentRefusal;
}

/** No Payment credential: nothing to add. */
export const NO_PAYMENT: PaymentStep = {};

/** L402 codes a refused Payment credential shows in the 402 body's `code`, beside the problem type. */
function l402Code(refusal: PaymentRefusal): "malformed" | "bad_signature" | "wrong_preimage" | "expired" | "revoked" {
  if (refusal.type === "invalid-challenge") return "bad_signature";
  if (refusal.type === "verification-failed") return "wrong_preimage";
  if (refusal.type === "payment-expired") return "expired";
  if (refusal.type === "lightning/session-closed") return "revoked";
  return "malformed";
}

/**
 * The Payment scheme's part of authentication: nothing without a Payment credential; otherwise the session or
 * charge it proves (with the receipt for a 2xx answer), a reply the gateway gives itself, or a refusal that the
 * challenge stage answers with a fresh 402 carrying its problem type.
 */
export async function paymentStage(
  gate: Pick<PaymentGate, "authenticate">,
  req: Request,
  res: Response,
  service: ServiceConfig,
  authorization: readonly string[],
): Promise<PaymentStep> {
  const outcome = await gate.authenticate(authorization, service);
  switch (outcome?.kind) {
    case undefined:
      return NO_PAYMENT;
    case "charge":
      return { charged: true, receipt: outcome.receipt };
    case "session":
      return { auth: outcome.auth, receipt: outcome.receipt };
    case "reply":
      req.resume();
      sendReply(res, outcome.reply);
      return { answered: { status: outcome.reply.status, code: "payment_session" } };
    case "refused": {
      const { refusal } = outcome;
      if (problemStatus(refusal.type) === 400) {
        req.resume();
        sendBadRequest(res, refusal);
        return { answered: { status: 400, code: refusal.type } };
      }
      return { auth: { ok: false, code: l402Code(refusal), message: refusal.detail }, refusal };
    }
  }
}
