import {
  decodeMacaroon,
  L402Error,
  type L402ErrorCode,
  parseAuthorization,
  rootKeyId,
  verifyToken,
} from "@l402-gateway/l402";
import type { SettledPayment, TokenRecord, TokenStore } from "../store/store.js";

export type AuthResult =
  | { readonly ok: true; readonly token: TokenRecord }
  | { readonly ok: false; readonly code: L402ErrorCode; readonly message: string };

const refuse = (code: L402ErrorCode, message: string): AuthResult => ({ ok: false, code, message });

/**
 * Checks an Authorization header for a service: parse, find the root key (refusing revoked tokens), then the l402
 * core verifies preimage, signature and caveats in that order. Needs no LND call, so paid tokens keep working while
 * the node is down.
 */
export class Authenticator {
  constructor(
    private readonly store: TokenStore,
    private readonly onPaid: (payment: SettledPayment) => void = () => {},
  ) {}

  /** Authenticates a credential for whichever service its token was bought for (balance lookups). */
  identify(authorization: readonly string[]): Promise<AuthResult> {
    return this.authenticate(authorization, undefined, []);
  }

  /** Authenticates a credential for `service`, or for its token's own service when undefined. */
  async authenticate(
    authorization: readonly string[],
    service: string | undefined,
    requiredCapabilities: readonly string[],
  ): Promise<AuthResult> {
    if (authorization.length === 0) return refuse("missing", "payment required");
    try {
      // Several values are accepted only when they carry one credential: lnget sends it as LSAT and as L402.
      const credential = parseAuthorization(authorization);
      if (credential.macaroons.length !== 1) {
        return refuse("malformed", "exactly one macaroon is accepted (no discharge macaroons)");
      }
      const macaroon = decodeMacaroon(credential.macaroons[0] ?? "");
      const lookup = await this.store.lookupRootKey(rootKeyId(macaroon.identifierBytes).toString("hex"));
      if (lookup.found === "revoked") return refuse("revoked", "this token has been revoked");
      if (lookup.found === "none") return refuse("bad_signature", "this token was not issued by this gateway");
      verifyToken({
        macaroon,
        preimage: credential.preimage,
        rootKey: lookup.rootKey,
        service: service ?? lookup.token.service,
        requiredCapabilities: [...requiredCapabilities],
      });
      if (!lookup.credential.paid) {
        // The preimage proves payment; the settlement stream may simply not have told us yet.
        const paid = await this.store.markPaid(lookup.credential.paymentHash, new Date());
        if (paid) {
          this.onPaid(paid);
          return { ok: true, token: paid.token };
        }
      }
      return { ok: true, token: lookup.token };
    } catch (error) {
      if (error instanceof L402Error) return refuse(error.code, error.message);
      throw error;
    }
  }
}
