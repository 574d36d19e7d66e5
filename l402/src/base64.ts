import { L402Error } from "./errors.js";

const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_SAFE = /^[A-Za-z0-9_-]*={0,2}$/;

/** Whether `text` looks like base64 in one alphabet (standard or URL-safe), padded or not. Checks no lengths. */
export function isBase64Text(text: string): boolean {
  return text.length > 0 && (STANDARD.test(text) || URL_SAFE.test(text));
}

/**
 * Strict base64 decoding: standard alphabet (padded or not) or URL-safe (padded or not), never a mix, and only the
 * canonical encoding of the bytes. Node's own decoder silently skips invalid characters, hence the checks.
 */
export function decodeBase64(text: string): Buffer {
  if (!isBase64Text(text)) throw new L402Error("malformed", "not base64");
  const padded = text.endsWith("=");
  if ((padded && text.length % 4 !== 0) || (!padded && text.length % 4 === 1)) {
    throw new L402Error("malformed", "base64 of an impossible length");
  }
  const bytes = Buffer.from(text, "base64");
  if (unpadded(bytes.toString(text.includes("-") || text.includes("_") ? "base64url" : "base64")) !== unpadded(text)) {
    throw new L402Error("malformed", "non-canonical base64");
  }
  return bytes;
}

function unpadded(text: string): string {
  return text.replace(/=+$/, "");
}
