import { existsSync, readFileSync } from "node:fs";

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Reads an LND credential (TLS cert or macaroon) given as a file path, hex or base64, and returns base64 of its
 * bytes as the `lightning` package takes it. A value naming an existing file is read as a file.
 */
export function credentialAsBase64(value: string, what: string): string {
  const trimmed = value.trim();
  if (trimmed === "") throw new RangeError(`${what} is empty`);
  if (existsSync(trimmed)) return readFileSync(trimmed).toString("base64");
  if (HEX.test(trimmed)) return Buffer.from(trimmed, "hex").toString("base64");
  if (BASE64.test(trimmed)) return Buffer.from(trimmed, "base64").toString("base64");
  throw new RangeError(`${what} is neither a readable file, hex nor base64`);
}
