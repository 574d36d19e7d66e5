import { parseAuthChallenges } from "./auth-params.js";
import { isBase64Text } from "./base64.js";
import { asL402Error, L402Error } from "./errors.js";
import { hasControlCharacter } from "./text.js";

export type L402Scheme = "L402" | "LSAT";

export interface L402Challenge {
  readonly scheme: L402Scheme;
  /** Base64 macaroon, from `macaroon=` or the spec's `token=`. */
  readonly macaroon: string;
  readonly invoice: string;
  readonly version?: string;
}

/** The `version` parameter of the updated L402 spec. */
export const L402_VERSION = "0";

/** A challenge header longer than this (all values together) is refused as malformed. */
export const MAX_CHALLENGE_HEADER_LENGTH = 16 * 1024;

/**
 * The two WWW-Authenticate values Aperture sends, LSAT first because old clients read only the first. Parameters
 * start `macaroon=` then `invoice=`, the order most parsers in the wild depend on (Aperture's and lnget's regexes,
 * L402sdk, lsat-js); then the updated spec's `version="0"` and `token=` (the same macaroon) for clients that read only
 * those (Alby reads `token=` or `macaroon=`). Throws RangeError for values that cannot stand in a quoted string.
 */
export function formatChallenge(challenge: { macaroonBase64: string; invoice: string }): [string, string] {
  const { macaroonBase64, invoice } = challenge;
  if (!isBase64Text(macaroonBase64)) throw new RangeError("macaroon must be base64");
  if (invoice === "" || /["\\]/.test(invoice) || hasControlCharacter(invoice)) {
    throw new RangeError("invoice cannot be written in a quoted string");
  }
  const params = `macaroon="${macaroonBase64}", invoice="${invoice}", version="${L402_VERSION}", token="${macaroonBase64}"`;
  return [`LSAT ${params}`, `L402 ${params}`];
}

/**
 * Finds the L402 challenge among WWW-Authenticate values (one string, possibly several challenges joined by commas
 * as fetch's Headers.get does, or the separate values). Prefers L402 over LSAT. Throws L402Error: `missing` when no
 * L402/LSAT challenge is there, `malformed` when one is there but unusable.
 */
export function parseChallenge(values: string | readonly string[]): L402Challenge {
  return asL402Error("malformed", "invalid WWW-Authenticate", () => {
    const list: readonly string[] = typeof values === "string" ? [values] : values;
    if (list.reduce((total, value) => total + value.length, 0) > MAX_CHALLENGE_HEADER_LENGTH) {
      throw new L402Error("malformed", "WWW-Authenticate is too long");
    }
    const found: L402Challenge[] = [];
    let problem: L402Error | undefined;
    const remember = (error: unknown) => {
      if (!(error instanceof L402Error)) throw error;
      problem ??= error;
    };
    for (const value of list) {
      try {
        for (const challenge of parseAuthChallenges(value)) {
          const scheme = challenge.scheme.toUpperCase();
          if (scheme !== "L402" && scheme !== "LSAT") continue;
          try {
            found.push(toL402Challenge(scheme, challenge.params));
          } catch (error) {
            remember(error);
          }
        }
      } catch (error) {
        remember(error);
      }
    }
    const chosen = found.find((challenge) => challenge.scheme === "L402") ?? found[0];
    if (chosen) return chosen;
    throw problem ?? new L402Error("missing", "no L402 challenge in WWW-Authenticate");
  });
}

function toL402Challenge(scheme: L402Scheme, params: ReadonlyMap<string, string>): L402Challenge {
  const macaroon = params.get("macaroon");
  const token = params.get("token");
  if (macaroon !== undefined && token !== undefined && macaroon !== token) {
    throw new L402Error("malformed", `${scheme} challenge has different macaroon= and token=`);
  }
  const credential = macaroon ?? token;
  if (credential === undefined || !isBase64Text(credential)) {
    throw new L402Error("malformed", `${scheme} challenge has no base64 macaroon`);
  }
  const invoice = params.get("invoice");
  if (invoice === undefined || invoice === "") throw new L402Error("malformed", `${scheme} challenge has no invoice`);
  const version = params.get("version");
  return { scheme, macaroon: credential, invoice, ...(version === undefined ? {} : { version }) };
}
