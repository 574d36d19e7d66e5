/**
 * @l402-gateway/l402 — the L402 protocol core, byte-compatible with Aperture and lnget.
 *
 * Errors
 *   class CodedError<Code> extends Error { readonly code: Code }: the one error shape here, in the gateway and in the agent client
 *   class L402Error extends CodedError<L402ErrorCode>
 *   type L402ErrorCode = "missing" | "malformed" | "bad_signature" | "wrong_preimage" | "expired" | "revoked"
 *     | "wrong_service" | "missing_capability" | "unknown_caveat" | "widened_caveat" | "unsupported_version"
 *   Functions that read untrusted input (decode*, parse*, verifyToken) throw only L402Error. Builders (encode*,
 *   mintToken, format*, the caveat builders, addFirstPartyCaveats' caveats) throw RangeError on arguments they cannot
 *   encode: that is a bug in the caller, not a client's fault.
 *
 * Identifier (66 bytes: uint16 BE version 0 ‖ 32-byte payment hash ‖ 32-byte token id)
 *   encodeIdentifier(id: TokenIdentifier): Buffer
 *   decodeIdentifier(bytes: Uint8Array): TokenIdentifier         version ≠ 0 → unsupported_version; length → malformed
 *   newTokenId(): Buffer
 *   rootKeyId(identifierBytes: Uint8Array): Buffer                sha256(identifier): where the root key is stored
 *
 * Caveats
 *   servicesCaveat(services: readonly ServiceGrant[]): string    "services=llm:0,img:1"
 *   capabilitiesCaveat(service, capabilities: readonly string[]): string   "llm_capabilities=chat,completions"
 *   validUntilCaveat(service, validUntil: Date | number (unix seconds)): string  "llm_valid_until=1893456000"
 *   preimageCaveat(preimage: Uint8Array): string                  "preimage=<64 hex>", as Aperture's client appends
 *   parseCaveat / parseServices / parseCapabilities / parseValidUntil / parsePreimage, and CaveatSatisfier for more.
 *
 * Mint and decode
 *   mintToken({ paymentHash, caveats, location = "lsat", rootKey?, tokenId? }): MintedToken
 *     → { macaroon (binary V2), macaroonBase64, identifier, identifierBytes, rootKey (fresh 32 bytes), rootKeyId,
 *         macaroonKey }
 *   MacaroonKey.derive(rootKey): the chain's first HMAC, done once; give it wherever a root key goes to save that HMAC
 *   decodeMacaroon(base64: string): DecodedMacaroon     standard base64 (URL-safe and unpadded accepted) of binary V2,
 *                                                       at most MAX_MACAROON_BYTES; anything else → malformed
 *   DecodedMacaroon { identifier, identifierBytes, location, caveats: string[], signature, toBase64(), toBytes(),
 *                     hasValidSignature(rootKey), withCaveats(caveats) }
 *   addFirstPartyCaveats(macaroonBase64: string, caveats: readonly string[]): string   attenuates, no root key needed
 *
 * Verify: verifyToken({ macaroon, preimage, rootKey, service, issuerCaveats, requiredCapabilities?, now?, satisfiers? })
 *   (rootKey: the root key's bytes, or its MacaroonKey when the caller keeps one)
 *   → { identifier, services, capabilities, validUntil }, checking in this order:
 *   1. sha256(preimage) = payment hash, in constant time (wrong_preimage; a preimage not 32 bytes is malformed);
 *   2. the HMAC signature against rootKey (bad_signature); stripping or editing a caveat lands here;
 *   3. caveats. Every caveat must be claimed by a satisfier, else unknown_caveat: `services`, `<any service>_capabilities`,
 *      `<any service>_valid_until` and `preimage` are built in; a caveat for another service is checked for form and
 *      narrowing but does not restrict this one (as in Aperture); anything else (no `=`, an unknown condition,
 *      third-party caveats) is refused, since it may be a restriction its author expected us to enforce. A repeated
 *      condition may only narrow, else widened_caveat: each later services list ⊆ the one before (same name and
 *      tier), each later capability list ⊆ the one before, each later valid_until ≤ the one before. The first
 *      `issuerCaveats` caveats are the issuer's, the rest the holder's: a services or capabilities condition whose
 *      first value is the holder's grants nothing. Then the last services list must name the service (wrong_service;
 *      no services caveat also fails), every required capability must be in the service's last capabilities caveat
 *      (missing_capability; no such caveat grants none), now < valid_until (expired; no valid_until never expires),
 *      and every preimage caveat must equal the presented preimage (wrong_preimage). Malformed values are malformed.
 *   The caller looks up the root key by rootKeyId and refuses revoked tokens before calling verify.
 *
 * Headers
 *   formatChallenge({ macaroonBase64, invoice }): [string, string]   LSAT then L402: `<S> macaroon="…", invoice="…", version="0", token="…"`
 *   parseChallenge(values: string | readonly string[]): L402Challenge  { scheme, macaroon, invoice, version? }
 *   parseAuthorization(values: string | readonly string[]): L402Credential   { scheme, macaroons, preimage }
 *   formatAuthorization({ macaroons | macaroon, preimage, scheme = "L402" }): string
 *   parseCredential({ authorization, macaroonHeaders? }): L402Credential   Authorization first, else Aperture's hex
 *     macaroon headers (MACAROON_HEADERS: Grpc-Metadata-Token, Token, Grpc-Metadata-Macaroon, Macaroon) whose
 *     preimage is a `preimage=` caveat
 *   MAX_AUTHORIZATION_HEADER_LENGTH (8 KiB), MAX_CHALLENGE_HEADER_LENGTH (16 KiB)
 *
 * Shared by the gateway and the agent client
 *   preimageProves(preimage, paymentHash) / preimageHexProves(hex, hex): sha256(preimage) = hash, in constant time
 *   invoiceNetwork(bolt11): the network its prefix names (mainnet, regtest, signet, testnet, simnet)
 *   decodedBolt11Schema: the fields of a decoded BOLT11 invoice both sides read
 *   gateway-contract.ts: this gateway's paths (MANIFEST_PATH, QUOTE_PATH, BALANCE_PATH, CLOSE_PATH), its x-l402-*
 *     headers, and the zod schemas of its quote, balance, close and error replies
 */
export { type AuthChallenge, parseAuthChallenges } from "./auth-params.js";
export {
  formatAuthorization,
  type L402Credential,
  MAX_AUTHORIZATION_HEADER_LENGTH,
  parseAuthorization,
} from "./authorization.js";
export { type DecodedBolt11, decodedBolt11Schema } from "./bolt11.js";
export {
  CAPABILITIES_SUFFIX,
  type Caveat,
  capabilitiesCaveat,
  capabilitiesCondition,
  PREIMAGE_CONDITION,
  parseCapabilities,
  parseCaveat,
  parsePreimage,
  parseServices,
  parseValidUntil,
  preimageCaveat,
  SERVICES_CONDITION,
  type ServiceGrant,
  servicesCaveat,
  VALID_UNTIL_SUFFIX,
  validUntilCaveat,
  validUntilCondition,
} from "./caveats.js";
export {
  formatChallenge,
  L402_VERSION,
  type L402Challenge,
  type L402Scheme,
  MAX_CHALLENGE_HEADER_LENGTH,
  parseChallenge,
} from "./challenge.js";
export { type CredentialHeaders, MACAROON_HEADERS, type MacaroonHeader, parseCredential } from "./credential.js";
export { CodedError, L402Error, type L402ErrorCode } from "./errors.js";
export {
  BALANCE_HEADER,
  BALANCE_PATH,
  type BalanceReply,
  balanceReplySchema,
  CLOSE_PATH,
  type CloseReply,
  COST_HEADER,
  closeReplySchema,
  DEPOSIT_HEADER,
  errorReplySchema,
  MANIFEST_PATH,
  QUOTE_PATH,
  type QuoteReply,
  quoteReplySchema,
  RESERVED_HEADER,
} from "./gateway-contract.js";
export {
  decodeIdentifier,
  encodeIdentifier,
  IDENTIFIER_LENGTH,
  IDENTIFIER_VERSION,
  newTokenId,
  PAYMENT_HASH_LENGTH,
  PREIMAGE_LENGTH,
  rootKeyId,
  TOKEN_ID_LENGTH,
  type TokenIdentifier,
} from "./identifier.js";
export { invoiceNetwork } from "./invoice-network.js";
export { quietIpServernameWarning } from "./ip-servername.js";
export {
  addFirstPartyCaveats,
  DecodedMacaroon,
  decodeMacaroon,
  decodeMacaroonBytes,
  MAX_MACAROON_BYTES,
} from "./macaroon.js";
export { DEFAULT_LOCATION, type MintedToken, type MintTokenOptions, mintToken, ROOT_KEY_LENGTH } from "./mint.js";
/**
 * HTTP Payment scheme (MPP), method lightning, intents charge and session: see payment/index.ts and
 * docs/payment-schemes.md. RFC 8785 canonical JSON, strict unpadded base64url, challenge build/parse with the 7-slot
 * HMAC `id`, credentials, receipts, RFC 9457 problems and zod schemas of the lightning requests and payloads.
 */
export * from "./payment/index.js";
export { preimageHexProves, preimageProves } from "./preimage.js";
export {
  BUILT_IN_SATISFIERS,
  type CaveatSatisfier,
  capabilitiesSatisfier,
  preimageSatisfier,
  servicesSatisfier,
  type VerificationContext,
  validUntilSatisfier,
} from "./satisfiers.js";
export { MacaroonKey } from "./signature.js";
export { type VerifiedToken, type VerifyTokenOptions, verifyToken } from "./verify.js";
