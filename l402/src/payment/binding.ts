import { createHmac, timingSafeEqual } from "node:crypto";

/** The challenge fields `id` binds; an absent optional one is the empty string in its slot. */
export interface BoundChallengeFields {
  readonly realm: string;
  readonly method: string;
  readonly intent: string;
  readonly request: string;
  readonly expires?: string | undefined;
  readonly digest?: string | undefined;
  readonly opaque?: string | undefined;
}

/**
 * `id` = unpadded base64url(HMAC-SHA256(secret, realm|method|intent|request|expires|digest|opaque)), the seven slots
 * as sent joined by `|` (Aperture's and mppx's binding): 43 characters.
 */
export function bindChallengeId(secret: Uint8Array, fields: BoundChallengeFields): string {
  const input = [
    fields.realm,
    fields.method,
    fields.intent,
    fields.request,
    fields.expires ?? "",
    fields.digest ?? "",
    fields.opaque ?? "",
  ].join("|");
  return createHmac("sha256", secret).update(input, "utf8").digest("base64url");
}

/**
 * Whether `challenge.id` is the binding of its fields under any of `secrets` (the current one first, then retired
 * ones whose challenges may not have expired yet), compared in constant time.
 */
export function isBoundChallenge(
  secrets: Uint8Array | readonly Uint8Array[],
  challenge: BoundChallengeFields & { readonly id: string },
): boolean {
  const list = secrets instanceof Uint8Array ? [secrets] : secrets;
  const presented = Buffer.from(challenge.id, "utf8");
  let matched = false;
  for (const secret of list) {
    const expected = Buffer.from(bindChallengeId(secret, challenge), "utf8");
    if (expected.length === presented.length && timingSafeEqual(expected, presented)) matched = true;
  }
  return matched;
}
