import { type L402Credential, parseAuthorization } from "./authorization.js";
import { PREIMAGE_CONDITION, parseCaveat, parsePreimage } from "./caveats.js";
import { asL402Error, L402Error } from "./errors.js";
import { decodeMacaroonBytes, MAX_MACAROON_BYTES } from "./macaroon.js";

/**
 * Headers in which Aperture's clients may send a credential instead of Authorization, in the order Aperture reads
 * them: a hex binary-V2 macaroon that carries its preimage as a `preimage=` caveat.
 */
export const MACAROON_HEADERS = ["grpc-metadata-token", "token", "grpc-metadata-macaroon", "macaroon"] as const;
export type MacaroonHeader = (typeof MACAROON_HEADERS)[number];

/** The request headers a credential may come in; names lowercase, every value in order. */
export interface CredentialHeaders {
  readonly authorization: readonly string[];
  readonly macaroonHeaders?: Readonly<Partial<Record<MacaroonHeader, readonly string[]>>>;
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/;

/**
 * Finds the credential as Aperture does: an L402/LSAT Authorization value first (see parseAuthorization); without
 * one, the first of MACAROON_HEADERS present, whose preimage is its `preimage=` caveat (the last one, as in Aperture;
 * verifyToken then holds every such caveat to the presented preimage). The result's macaroon is standard base64 and
 * its scheme L402 whichever form was sent. Throws only L402Error: `missing` when no form is present, `malformed` for
 * anything unparseable.
 */
export function parseCredential(headers: CredentialHeaders): L402Credential {
  return asL402Error("malformed", "invalid credential", () => {
    try {
      return parseAuthorization(headers.authorization);
    } catch (error) {
      if (!(error instanceof L402Error && error.code === "missing")) throw error;
    }
    for (const name of MACAROON_HEADERS) {
      const values = headers.macaroonHeaders?.[name] ?? [];
      if (values.length > 0) return parseMacaroonHeader(name, values);
    }
    throw new L402Error("missing", "no L402 credential in Authorization or a macaroon header");
  });
}

function parseMacaroonHeader(name: string, values: readonly string[]): L402Credential {
  const [first, ...others] = values.map((value) => value.trim());
  if (first === undefined || others.some((other) => other !== first)) {
    throw new L402Error("malformed", `${name} values disagree`);
  }
  if (first.length > 2 * MAX_MACAROON_BYTES) {
    throw new L402Error("malformed", `${name} holds a macaroon larger than ${MAX_MACAROON_BYTES} bytes`);
  }
  if (!HEX.test(first)) throw new L402Error("malformed", `${name} must be a hex macaroon`);
  const macaroon = decodeMacaroonBytes(Buffer.from(first, "hex"));
  const preimages = macaroon.caveats
    .filter((caveat) => caveat.startsWith(`${PREIMAGE_CONDITION}=`))
    .map((caveat) => parseCaveat(caveat).value);
  const last = preimages[preimages.length - 1];
  if (last === undefined) throw new L402Error("malformed", `the macaroon in ${name} has no preimage caveat`);
  return { scheme: "L402", macaroons: [macaroon.toBase64()], preimage: parsePreimage(last) };
}
