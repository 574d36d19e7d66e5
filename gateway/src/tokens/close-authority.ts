import { createHash } from "node:crypto";
import { PREIMAGE_CONDITION } from "@l402-gateway/l402";
import type { TokenRecord } from "../store/store.js";
import { issuerCaveatCount } from "./caveats.js";

/** Whether a credential may close its account (and retry its refund, or name a new refund invoice). */
export type CloseAuthority = { readonly ok: true } | { readonly ok: false; readonly message: string };

const conditionOf = (caveat: string): string => caveat.split("=", 1)[0] ?? caveat;

/**
 * Only the owner closes. An L402 credential may close its account only when it carries exactly the caveats the
 * gateway minted (`services`, `<service>_capabilities` when the service has any, `<service>_valid_until`), plus at
 * most `preimage=` caveats, which bind the preimage the request proves anyway and narrow nothing (Aperture's client
 * adds one). Any other caveat was added by a holder to narrow the token for a delegate, and a delegate must not take
 * the balance: its close is refused. The gateway grants no `close` capability, so no narrowed token can close.
 *
 * `caveats` must be those of a macaroon whose signature was verified (or, once the root key is erased, of one whose
 * signature matches a recorded close credential): holders can only append caveats, so for a token minted here the
 * issuer's count is the length of the minted layout whatever was appended.
 *
 * A Payment session's account is closed with its own Payment credential (action `close`), whose refund goes to the
 * return invoice given when the session was opened; an L402 macaroon issued for it (a top-up) cannot redirect it.
 */
export function closeAuthority(
  caveats: readonly string[],
  token: Pick<TokenRecord, "scheme" | "service">,
): CloseAuthority {
  if (token.scheme === "payment") {
    return {
      ok: false,
      message:
        "a Payment session is closed with its Payment credential (action close); its refund goes to the return invoice given at open",
    };
  }
  const issuer = issuerCaveatCount(caveats, token.service);
  if (issuer === 0) return { ok: false, message: "this credential does not carry the caveats this gateway minted" };
  const added = caveats.slice(issuer).filter((caveat) => conditionOf(caveat) !== PREIMAGE_CONDITION);
  if (added.length > 0) {
    return {
      ok: false,
      message: `this credential was narrowed by its holder (${added.map(conditionOf).join(", ")}): only the token's owner, with the credential as this gateway minted it, may close the account or direct its refund`,
    };
  }
  return { ok: true };
}

/** The hash under which a closing credential is remembered: SHA-256 of its macaroon's signature, hex. */
export function signatureSha256(signature: Uint8Array): string {
  return createHash("sha256").update(signature).digest("hex");
}
