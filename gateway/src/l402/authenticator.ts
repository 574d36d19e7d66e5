import {
  type CredentialHeaders,
  decodeMacaroon,
  L402Error,
  type L402ErrorCode,
  parseCredential,
  rootKeyId,
  verifyToken,
} from "@l402-gateway/l402";
import type { SettledPayment, TokenRecord, TokenStore } from "../store/store.js";
import { issuerCaveatCount } from "./caveats.js";

export interface Authenticated {
  readonly ok: true;
  readonly token: TokenRecord;
  /** The presented macaroon's first-party caveats, in order: what a credential re-issued for it must carry. */
  readonly caveats: readonly string[];
}

export type AuthResult = Authenticated | { readonly ok: false; readonly code: L402ErrorCode; readonly message: string };

const refuse = (code: L402ErrorCode, message: string): AuthResult => ({ ok: false, code, message });

/**
 * Checks a request's credential for a service: parse (Authorization, or Aperture's hex macaroon headers), find the
 * root key (refusing revoked tokens), then the l402 core verifies preimage, signature and caveats in that order, with
 * the caveats this gateway wrote told apart from the holder's. Needs no LND call, so paid tokens keep working while
 * the node is down.
 */
export class Authenticator {
  constructor(
    private readonly store: TokenStore,
    private readonly onPaid: (payment: SettledPayment) => void = () => {},
  ) {}

  /** Authenticates a credential for whichever service its token was bought for (balance lookups). */
  identify(headers: CredentialHeaders): Promise<AuthResult> {
    return this.authenticate(headers, undefined, []);
  }

  /**
   * Authenticates a credential for `service`, or for its token's own service when undefined. `headers` holds the
   * Authorization values and Aperture's macaroon headers.
   */
  async authenticate(
    headers: CredentialHeaders,
    service: string | undefined,
    requiredCapabilities: readonly string[],
  ): Promise<AuthResult> {
    try {
      // Several Authorization values are accepted only when they carry one credential: lnget sends LSAT and L402.
      const credential = parseCredential(headers);
      // The spec allows several macaroons before the preimage: the first is the token, the rest discharges, which
      // this gateway never asks for (a third-party caveat on the token is refused as unknown).
      const macaroon = decodeMacaroon(credential.macaroons[0] ?? "");
      const lookup = await this.store.lookupRootKey(rootKeyId(macaroon.identifierBytes).toString("hex"));
      if (lookup.found === "revoked") return refuse("revoked", "this token has been revoked");
      if (lookup.found === "none") return refuse("bad_signature", "this token was not issued by this gateway");
      verifyToken({
        macaroon,
        preimage: credential.preimage,
        rootKey: lookup.rootKey,
        service: service ?? lookup.token.service,
        issuerCaveats: issuerCaveatCount(macaroon.caveats, lookup.token.service),
        requiredCapabilities: [...requiredCapabilities],
      });
      const caveats = macaroon.caveats;
      if (!lookup.credential.paid) {
        // The preimage proves payment; the settlement stream may simply not have told us yet.
        const paid = await this.store.markPaid(lookup.credential.paymentHash, new Date());
        if (paid) {
          this.onPaid(paid);
          return { ok: true, token: paid.token, caveats };
        }
      }
      return { ok: true, token: lookup.token, caveats };
    } catch (error) {
      if (error instanceof L402Error) return refuse(error.code, error.message);
      throw error;
    }
  }
}
