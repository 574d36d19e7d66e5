/**
 * Writes the binary V2 macaroon format, byte for byte as go-macaroon's MarshalBinary (and so Aperture) does. The
 * `macaroon` package's own exportBinary cannot be used: in 3.0.4 its buffer doubles on every append (`_grow` compares
 * against a capacity that is never set), so three caveats allocate 3.3 GB and a fourth throws. Reading and all HMAC
 * work stay with the package.
 */
const FIELD_END = 0;
const FIELD_LOCATION = 1;
const FIELD_IDENTIFIER = 2;
const FIELD_SIGNATURE = 6;
const VERSION_2 = 2;

export interface FirstPartyMacaroonFields {
  readonly location: string;
  readonly identifier: Uint8Array;
  readonly caveats: readonly { readonly identifier: Uint8Array }[];
  readonly signature: Uint8Array;
}

export function encodeBinaryV2(macaroon: FirstPartyMacaroonFields): Buffer {
  const parts: Uint8Array[] = [Uint8Array.of(VERSION_2)];
  const field = (type: number, data: Uint8Array) => parts.push(Uint8Array.of(type), uvarint(data.length), data);
  const end = () => parts.push(Uint8Array.of(FIELD_END));

  if (macaroon.location !== "") field(FIELD_LOCATION, Buffer.from(macaroon.location, "utf8"));
  field(FIELD_IDENTIFIER, macaroon.identifier);
  end();
  for (const caveat of macaroon.caveats) {
    field(FIELD_IDENTIFIER, caveat.identifier);
    end();
  }
  end();
  field(FIELD_SIGNATURE, macaroon.signature);
  return Buffer.concat(parts);
}

function uvarint(value: number): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Uint8Array.from(bytes);
}
