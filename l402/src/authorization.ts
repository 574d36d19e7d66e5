import { isBase64Text } from "./base64.js";
import type { L402Scheme } from "./challenge.js";
import { asL402Error, L402Error } from "./errors.js";
import { PREIMAGE_LENGTH } from "./identifier.js";
import { hasControlCharacter } from "./text.js";

export interface L402Credential {
  readonly scheme: L402Scheme;
  /** Base64 macaroons as sent, not yet decoded. */
  readonly macaroons: readonly string[];
  readonly preimage: Buffer;
}

/** An Authorization value longer than this is refused as malformed before any parsing. */
export const MAX_AUTHORIZATION_HEADER_LENGTH = 8 * 1024;

const CREDENTIAL = /^([A-Za-z0-9]+)[ \t]+(.*)$/s;
const PREIMAGE_HEX = /^[0-9a-fA-F]{64}$/;

/**
 * Parses `L402 <b64 macaroon>[,<b64 macaroon>…]:<64 hex preimage>` (`LSAT` too, scheme case-insensitive, hex in
 * either case). Given several values, as Aperture's and lnget's client send (`LSAT …` then `L402 …`), they must all
 * carry the same credential and the L402 one is returned; values of other schemes are ignored. Throws only
 * L402Error: `missing` when there is no L402/LSAT credential, `malformed` for anything unparseable.
 */
export function parseAuthorization(values: string | readonly string[]): L402Credential {
  return asL402Error("malformed", "invalid Authorization", () => {
    const list: readonly string[] = typeof values === "string" ? [values] : values;
    const credentials = list.map(parseOne).filter((credential) => credential !== undefined);
    const [first, ...others] = credentials;
    if (!first) throw new L402Error("missing", "no L402 credential in Authorization");
    for (const other of others) {
      if (!sameCredential(first, other)) throw new L402Error("malformed", "Authorization values disagree");
    }
    return credentials.find((credential) => credential.scheme === "L402") ?? first;
  });
}

/** `L402 <macaroons joined by ,>:<hex preimage>`. Throws RangeError for arguments it cannot write. */
export function formatAuthorization(
  credential: ({ macaroons: readonly string[] } | { macaroon: string }) & {
    preimage: Uint8Array;
    scheme?: L402Scheme;
  },
): string {
  const macaroons = "macaroons" in credential ? credential.macaroons : [credential.macaroon];
  if (macaroons.length === 0 || !macaroons.every(isBase64Text)) {
    throw new RangeError("need at least one base64 macaroon");
  }
  if (credential.preimage.length !== PREIMAGE_LENGTH) throw new RangeError(`preimage must be ${PREIMAGE_LENGTH} bytes`);
  return `${credential.scheme ?? "L402"} ${macaroons.join(",")}:${Buffer.from(credential.preimage).toString("hex")}`;
}

/** Undefined for a well-formed value of another scheme. */
function parseOne(value: string): L402Credential | undefined {
  if (typeof value !== "string") throw new L402Error("malformed", "Authorization must be a string");
  if (value.length > MAX_AUTHORIZATION_HEADER_LENGTH) {
    throw new L402Error("malformed", `Authorization is longer than ${MAX_AUTHORIZATION_HEADER_LENGTH} characters`);
  }
  if (hasControlCharacter(value, true)) throw new L402Error("malformed", "Authorization holds control characters");
  const trimmed = value.trim();
  if (trimmed === "") return undefined;
  const match = CREDENTIAL.exec(trimmed);
  const schemeText = (match?.[1] ?? trimmed).toUpperCase();
  if (schemeText !== "L402" && schemeText !== "LSAT") return undefined;
  const scheme: L402Scheme = schemeText;
  const rest = match?.[2] ?? "";

  const separator = rest.lastIndexOf(":");
  if (separator < 0) throw new L402Error("malformed", `${scheme} credential has no :<preimage>`);
  const preimageHex = rest.slice(separator + 1);
  if (!PREIMAGE_HEX.test(preimageHex)) {
    throw new L402Error("malformed", `${scheme} preimage must be ${PREIMAGE_LENGTH * 2} hex characters`);
  }
  const macaroons = rest
    .slice(0, separator)
    .split(",")
    .map((macaroon) => macaroon.trim());
  if (!macaroons.every(isBase64Text)) throw new L402Error("malformed", `${scheme} macaroons must be base64`);
  return { scheme, macaroons, preimage: Buffer.from(preimageHex, "hex") };
}

function sameCredential(a: L402Credential, b: L402Credential): boolean {
  return (
    a.preimage.equals(b.preimage) &&
    a.macaroons.length === b.macaroons.length &&
    a.macaroons.every((macaroon, i) => macaroon === b.macaroons[i])
  );
}
