import { L402Error } from "./errors.js";

const EQUALS = 0x3d;
/** Per ASCII code: the 6-bit value of a base64 character, in either alphabet. */
const VALUE = new Uint8Array(128);
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;
VALUE["-".charCodeAt(0)] = 62;
VALUE["_".charCodeAt(0)] = 63;

/** How many `=` end `text`. */
function paddingOf(text: string): number {
  let padding = 0;
  while (padding < text.length && text.charCodeAt(text.length - 1 - padding) === EQUALS) padding++;
  return padding;
}

const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_SAFE = /^[A-Za-z0-9_-]*={0,2}$/;

/** Whether `text` looks like base64 in one alphabet (standard or URL-safe), padded or not. Checks no lengths. */
export function isBase64Text(text: string): boolean {
  return text.length > 0 && (STANDARD.test(text) || URL_SAFE.test(text));
}

/** Bits of the last character that a canonical encoding leaves zero, by the count of characters mod 4. */
const UNUSED_BITS = [0, 0, 0x0f, 0x03] as const;

/**
 * Strict base64 decoding: standard alphabet (padded or not) or URL-safe (padded or not), never a mix, and only the
 * canonical encoding of the bytes. Node's own decoder silently skips invalid characters, hence the checks.
 */
export function decodeBase64(text: string): Buffer {
  if (!isBase64Text(text)) throw new L402Error("malformed", "not base64");
  const padding = paddingOf(text);
  const characters = text.length - padding;
  if ((padding > 0 && text.length % 4 !== 0) || (padding === 0 && text.length % 4 === 1)) {
    throw new L402Error("malformed", "base64 of an impossible length");
  }
  // Every character is valid and the length possible, so the bytes are exact; the encoding is canonical unless the
  // last character carries bits beyond the last byte.
  const unused = UNUSED_BITS[characters % 4] ?? 0;
  if (unused !== 0 && ((VALUE[text.charCodeAt(characters - 1)] ?? 0) & unused) !== 0) {
    throw new L402Error("malformed", "non-canonical base64");
  }
  return Buffer.from(text, "base64");
}
