import { Transform } from "node:stream";
import { authorizationOf, type Presented } from "./presented.js";

/** Shown where a server echoed a credential. */
export const REDACTED = "[redacted]";

/** Shorter strings are no secrets of ours (and scrubbing them would mangle ordinary text). */
const MIN_SECRET_LENGTH = 16;

/**
 * What a presented credential reveals to whoever reads it: the Authorization value and its token, the L402
 * macaroon, and every preimage (the token's, the session's, a top-up's or a charge's).
 */
export function credentialSecrets(presented: Presented): string[] {
  const authorization = authorizationOf(presented);
  const secrets = [authorization, authorization.slice(authorization.indexOf(" ") + 1)];
  switch (presented.kind) {
    case "token":
      secrets.push(presented.token.macaroon, presented.token.preimage);
      break;
    case "session":
    case "close":
      secrets.push(presented.session.preimage);
      break;
    case "topUp":
      secrets.push(presented.session.preimage, presented.topUpPreimage);
      break;
    case "charge":
      secrets.push(presented.preimage);
      break;
  }
  return secrets;
}

/**
 * `text` with every echo of `secrets` replaced by "[redacted]": as sent, JSON-escaped (`\/`), base64url for a
 * base64 value, and hex in either case. Longer secrets first, so that an Authorization value goes as a whole.
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  const pattern = secretPattern(secrets);
  return pattern === undefined ? text : text.replace(pattern, REDACTED);
}

/**
 * A byte stream scrubbed as `scrubSecrets` does, for bodies printed as they arrive: it holds back only as much as
 * the longest secret could still need. Bytes are read as latin1, so a body that is not text passes unchanged.
 */
export function scrubbingStream(secrets: readonly string[]): Transform {
  const pattern = secretPattern(secrets);
  const keep = Math.max(0, ...variants(secrets).map((variant) => variant.length)) - 1;
  let pending = "";
  return new Transform({
    transform(chunk: Buffer | string, _encoding, done) {
      if (pattern === undefined) return done(null, chunk);
      pending += Buffer.isBuffer(chunk) ? chunk.toString("latin1") : chunk;
      const scrubbed = pending.replace(pattern, REDACTED);
      const cut = Math.max(0, scrubbed.length - keep);
      pending = scrubbed.slice(cut);
      done(null, Buffer.from(scrubbed.slice(0, cut), "latin1"));
    },
    flush(done) {
      done(null, pattern === undefined ? undefined : Buffer.from(pending.replace(pattern, REDACTED), "latin1"));
    },
  });
}

function secretPattern(secrets: readonly string[]): RegExp | undefined {
  const all = variants(secrets).sort((a, b) => b.length - a.length);
  if (all.length === 0) return undefined;
  return new RegExp(all.map(escapeRegExp).join("|"), "gi");
}

function variants(secrets: readonly string[]): string[] {
  const found = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    found.add(secret);
    found.add(secret.replaceAll("/", "\\/"));
    if (/^[A-Za-z0-9+/]+=*$/.test(secret) && /[+/=]/.test(secret)) {
      found.add(secret.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""));
    }
  }
  return [...found];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
