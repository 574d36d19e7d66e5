import { isBase64Text } from "./base64.js";
import type { L402Scheme } from "./challenge.js";
import { L402Error, toL402Error } from "./errors.js";
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

/**
 * Parses `L402 <b64 macaroon>[,<b64 macaroon>…]:<64 hex preimage>` (`LSAT` too, scheme case-insensitive, hex in
 * either case). Given several values, as Aperture's and lnget's client send (`LSAT …` then `L402 …`), they must all
 * carry the same credential and the L402 one is returned; values of other schemes are ignored. Throws only
 * L402Error: `missing` when there is no L402/LSAT credential, `malformed` for anything unparseable.
 */
export function parseAuthorization(values: string | readonly string[]): L402Credential {
  try {
    // One value is the common case: no list to build.
    const credential = typeof values === "string" ? parseOne(values) : parseAll(values);
    if (!credential) throw new L402Error("missing", "no L402 credential in Authorization");
    return credential;
  } catch (error) {
    throw toL402Error(error, "malformed", "invalid Authorization");
  }
}

function parseAll(values: readonly string[]): L402Credential | undefined {
  if (values.length === 1) return parseOne(values[0] as string);
  const credentials = values.map(parseOne).filter((credential) => credential !== undefined);
  const [first, ...others] = credentials;
  for (const other of others) {
    if (first && !sameCredential(first, other)) throw new L402Error("malformed", "Authorization values disagree");
  }
  return credentials.find((credential) => credential.scheme === "L402") ?? first;
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
  const { schemeText, rest } = splitScheme(trimmed);
  const upper = schemeText.toUpperCase();
  if (upper !== "L402" && upper !== "LSAT") return undefined;
  const scheme: L402Scheme = upper;

  const separator = rest.lastIndexOf(":");
  if (separator < 0) throw new L402Error("malformed", `${scheme} credential has no :<preimage>`);
  if (rest.length - separator - 1 !== PREIMAGE_LENGTH * 2 || !isHex(rest, separator + 1)) {
    throw new L402Error("malformed", `${scheme} preimage must be ${PREIMAGE_LENGTH * 2} hex characters`);
  }
  const list = rest.slice(0, separator);
  const macaroons = list.includes(",") ? list.split(",").map((macaroon) => macaroon.trim()) : [list.trim()];
  if (!macaroons.every(isBase64Text)) throw new L402Error("malformed", `${scheme} macaroons must be base64`);
  return { scheme, macaroons, preimage: Buffer.from(rest.slice(separator + 1), "hex") };
}

const isSpace = (code: number) => code === 0x20 || code === 0x09;
const isAlphanumeric = (code: number) =>
  (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
const isHexDigit = (code: number) => isAlphanumeric(code) && (code | 0x20) <= 0x66;

/**
 * `<alphanumeric scheme><spaces or tabs><rest>`; a value not of that form is all scheme (an L402 one is then refused
 * for lacking the preimage).
 */
function splitScheme(value: string): { schemeText: string; rest: string } {
  let end = 0;
  while (end < value.length && isAlphanumeric(value.charCodeAt(end))) end++;
  if (end === 0 || end === value.length || !isSpace(value.charCodeAt(end))) return { schemeText: value, rest: "" };
  let start = end;
  while (isSpace(value.charCodeAt(start))) start++;
  return { schemeText: value.slice(0, end), rest: value.slice(start) };
}

function isHex(text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) if (!isHexDigit(text.charCodeAt(i))) return false;
  return true;
}

function sameCredential(a: L402Credential, b: L402Credential): boolean {
  return (
    a.preimage.equals(b.preimage) &&
    a.macaroons.length === b.macaroons.length &&
    a.macaroons.every((macaroon, i) => macaroon === b.macaroons[i])
  );
}
