import {
  type CredentialHeaders,
  decodeMacaroon,
  L402Error,
  type L402ErrorCode,
  parseCredential,
  rootKeyId,
  verifyToken,
} from "@l402-gateway/l402";
import type { RootKeyLookup, RootKeys, SettledPayment, Settlements, TokenRecord } from "../store/store.js";
import { issuerCaveatCount } from "./caveats.js";
import { MacaroonKeys } from "./macaroon-keys.js";
import { type VerifiedCredential, VerifiedCredentials } from "./verified-credentials.js";

export interface Authenticated {
  readonly ok: true;
  readonly token: TokenRecord;
  /** The presented macaroon's first-party caveats, in order: what a credential re-issued for it must carry. */
  readonly caveats: readonly string[];
  /** True when the credential was verified before and only the store was asked again. */
  readonly cached?: boolean;
}

type Refusal = { readonly ok: false; readonly code: L402ErrorCode; readonly message: string };
export type AuthResult = Authenticated | Refusal;

const refuse = (code: L402ErrorCode, message: string): Refusal => ({ ok: false, code, message });

/**
 * Checks a request's credential for a service: parse (Authorization, or Aperture's hex macaroon headers), find the
 * root key (refusing revoked tokens), then the l402 core verifies preimage, signature and caveats in that order, with
 * the caveats this gateway wrote told apart from the holder's. Needs no LND call, so paid tokens keep working while
 * the node is down.
 */
export class Authenticator {
  private readonly verified: VerifiedCredentials;

  /**
   * @param verifiedCacheEntries bounds the cache of verified credentials (0: none).
   * @param macaroonKeys derived keys by root key id; give the one the challenger primes at mint to share it.
   */
  constructor(
    private readonly store: RootKeys & Pick<Settlements, "markPaid">,
    private readonly onPaid: (payment: SettledPayment) => void = () => {},
    verifiedCacheEntries = 10_000,
    /** Derived keys of root keys seen or minted here; the challenger fills it at mint. */
    readonly macaroonKeys = new MacaroonKeys(verifiedCacheEntries),
  ) {
    this.verified = new VerifiedCredentials(verifiedCacheEntries);
  }

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
      const key = VerifiedCredentials.keyOf(headers, service, requiredCapabilities);
      const now = new Date();
      const known = key === undefined ? undefined : this.verified.get(key, now.getTime());
      if (known) return await this.currentToken(known, await this.store.lookupRootKey(known.rootKeyId), true);
      const outcome = await this.verify(headers, service, requiredCapabilities, now);
      if (!outcome.ok) return outcome;
      if (key !== undefined) this.verified.remember(key, outcome.verified);
      return await this.currentToken(outcome.verified, outcome.lookup, false);
    } catch (error) {
      if (error instanceof L402Error) return refuse(error.code, error.message);
      throw error;
    }
  }

  /** Parses and verifies a credential not seen before: root key from the store, then the l402 core's checks. */
  private async verify(
    headers: CredentialHeaders,
    service: string | undefined,
    requiredCapabilities: readonly string[],
    now: Date,
  ): Promise<{ ok: true; verified: VerifiedCredential; lookup: RootKeyLookup } | Refusal> {
    // Several Authorization values are accepted only when they carry one credential: lnget sends LSAT and L402.
    const credential = parseCredential(headers);
    // The spec allows several macaroons before the preimage: the first is the token, the rest discharges, which
    // this gateway never asks for (a third-party caveat on the token is refused as unknown).
    const macaroon = decodeMacaroon(credential.macaroons[0] ?? "");
    const rootKeyIdHex = rootKeyId(macaroon.identifierBytes).toString("hex");
    const lookup = await this.store.lookupRootKey(rootKeyIdHex);
    if (lookup.found !== "active") return refuseLookup(lookup);
    const result = verifyToken({
      macaroon,
      preimage: credential.preimage,
      rootKey: this.macaroonKeys.keyFor(rootKeyIdHex, lookup.rootKey),
      service: service ?? lookup.token.service,
      issuerCaveats: issuerCaveatCount(macaroon.caveats, lookup.token.service),
      requiredCapabilities,
      now,
    });
    const verified = {
      rootKeyId: rootKeyIdHex,
      caveats: macaroon.caveats,
      validUntilMs: result.validUntil?.getTime() ?? Number.POSITIVE_INFINITY,
    };
    return { ok: true, verified, lookup };
  }

  /** The store's current word on a verified credential's token: revoked, or its record (paid now if need be). */
  private async currentToken(
    verified: VerifiedCredential,
    lookup: RootKeyLookup,
    cached: boolean,
  ): Promise<AuthResult> {
    if (lookup.found !== "active") return refuseLookup(lookup);
    const { caveats } = verified;
    if (!lookup.credential.paid) {
      // The preimage proves payment; the settlement stream may simply not have told us yet.
      const paid = await this.store.markPaid(lookup.credential.paymentHash, new Date());
      if (paid) {
        this.onPaid(paid);
        return { ok: true, token: paid.token, caveats, cached };
      }
    }
    return { ok: true, token: lookup.token, caveats, cached };
  }
}

function refuseLookup(lookup: Exclude<RootKeyLookup, { found: "active" }>): Refusal {
  return lookup.found === "revoked"
    ? refuse("revoked", "this token has been revoked")
    : refuse("bad_signature", "this token was not issued by this gateway");
}
