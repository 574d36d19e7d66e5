import * as crypto from "node:crypto";

/** Native SHA-256 in one call: `crypto.hash` (Node ≥ 20.12) skips the Hash object, else createHash. */
export const sha256: (data: Uint8Array) => Buffer =
  typeof crypto.hash === "function"
    ? (data) => crypto.hash("sha256", data, "buffer")
    : (data) => crypto.createHash("sha256").update(data).digest();
