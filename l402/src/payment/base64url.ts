import { PaymentError } from "./errors.js";

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Unpadded base64url (RFC 4648 §5) of bytes, or of a string's UTF-8. */
export function encodeBase64Url(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
  return bytes.toString("base64url");
}

/**
 * Strict base64url decoding: the URL-safe alphabet only, padding tolerated (to a multiple of 4, never more), unused
 * trailing bits zero. Node's decoder silently skips foreign characters, hence the checks. Throws
 * PaymentError("malformed-credential").
 */
export function decodeBase64Url(text: string): Buffer {
  const body = stripPadding(text);
  if (!BASE64URL.test(body) || body.length % 4 === 1) {
    throw new PaymentError("malformed-credential", "not base64url");
  }
  const bytes = Buffer.from(body, "base64url");
  if (bytes.toString("base64url") !== body) {
    throw new PaymentError("malformed-credential", "base64url with non-zero trailing bits");
  }
  return bytes;
}

function stripPadding(text: string): string {
  const padding = /=*$/.exec(text)?.[0].length ?? 0;
  if (padding === 0) return text;
  if (padding > 2 || text.length % 4 !== 0) throw new PaymentError("malformed-credential", "base64url badly padded");
  return text.slice(0, text.length - padding);
}
