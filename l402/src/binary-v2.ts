import { CodedError } from "./errors.js";
import { strictUtf8 } from "./text.js";

/**
 * The binary V2 macaroon format, read and written byte for byte as go-macaroon (and so Aperture) does. The `macaroon`
 * package's codec is not used on the hot path: its reader converts every field to an sjcl bit array, and in 3.0.4 its
 * writer's buffer doubles on every append (`_grow` compares against a capacity that is never set), so three caveats
 * allocate 3.3 GB and a fourth throws. The package stays the reference these functions are tested against.
 */
const FIELD_END = 0;
const FIELD_LOCATION = 1;
const FIELD_IDENTIFIER = 2;
const FIELD_VERIFICATION_ID = 4;
const FIELD_SIGNATURE = 6;
const VERSION_2 = 2;
/** go-macaroon and the package both refuse varints longer than a uint32's five bytes. */
const MAX_VARINT_BYTES = 5;

export interface FirstPartyMacaroonFields {
  readonly location: string;
  readonly identifier: Uint8Array;
  readonly caveats: readonly { readonly identifier: Uint8Array }[];
  readonly signature: Uint8Array;
}

export interface DecodedCaveatFields {
  readonly identifier: Buffer;
  /** Present only on third-party caveats. */
  readonly verificationId: Buffer | undefined;
}

export interface DecodedMacaroonFields {
  readonly location: string;
  readonly identifier: Buffer;
  readonly caveats: readonly DecodedCaveatFields[];
  readonly signature: Buffer;
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

/** Thrown for bytes that are not one well-formed binary V2 macaroon. */
export class BinaryV2Error extends CodedError<"malformed"> {
  override readonly name = "BinaryV2Error";

  constructor(message: string) {
    super("malformed", message);
  }
}

/**
 * Reads one binary V2 macaroon, accepting exactly what the `macaroon` package's importer accepts (optional
 * locations, third-party verification ids) and refusing trailing bytes. Fields are copies, never views of `bytes`.
 */
export function decodeBinaryV2(bytes: Uint8Array): DecodedMacaroonFields {
  return readBinaryV2(Buffer.from(bytes));
}

/** decodeBinaryV2 without the copy: every field is a view of `bytes`, which the caller must own and never change. */
export function readBinaryV2(bytes: Buffer): DecodedMacaroonFields {
  const reader = new FieldReader(bytes);
  if (reader.byte() !== VERSION_2) throw new BinaryV2Error("not a binary V2 macaroon");
  const location = utf8(reader.optional(FIELD_LOCATION));
  const identifier = reader.field(FIELD_IDENTIFIER);
  reader.end();
  const caveats: DecodedCaveatFields[] = [];
  while (!reader.optionalEnd()) {
    reader.optional(FIELD_LOCATION);
    const caveatIdentifier = reader.field(FIELD_IDENTIFIER);
    const verificationId = reader.optional(FIELD_VERIFICATION_ID);
    reader.end();
    caveats.push({ identifier: caveatIdentifier, verificationId });
  }
  const signature = reader.field(FIELD_SIGNATURE);
  if (!reader.done) throw new BinaryV2Error("unexpected bytes after the macaroon signature");
  return { location, identifier, caveats, signature };
}

function utf8(bytes: Buffer | undefined): string {
  if (bytes === undefined) return "";
  const text = strictUtf8(bytes);
  if (text === undefined) throw new BinaryV2Error("the macaroon location is not UTF-8");
  return text;
}

class FieldReader {
  private index = 0;

  constructor(private readonly bytes: Buffer) {}

  get done(): boolean {
    return this.index === this.bytes.length;
  }

  byte(): number {
    const value = this.bytes[this.index];
    if (value === undefined) throw new BinaryV2Error("the macaroon ends early");
    this.index++;
    return value;
  }

  field(type: number): Buffer {
    const found = this.byte();
    if (found !== type) throw new BinaryV2Error(`unexpected field type ${found}, expected ${type}`);
    const length = this.varint();
    if (length > this.bytes.length - this.index) throw new BinaryV2Error("a field runs past the end of the macaroon");
    const data = this.bytes.subarray(this.index, this.index + length);
    this.index += length;
    return data;
  }

  optional(type: number): Buffer | undefined {
    return this.bytes[this.index] === type ? this.field(type) : undefined;
  }

  end(): void {
    if (this.byte() !== FIELD_END) throw new BinaryV2Error("a section of the macaroon is not terminated");
  }

  optionalEnd(): boolean {
    if (this.bytes[this.index] !== FIELD_END) return false;
    this.index++;
    return true;
  }

  private varint(): number {
    let value = 0;
    for (let count = 0; count < MAX_VARINT_BYTES; count++) {
      const byte = this.byte();
      value += (byte & 0x7f) * 2 ** (7 * count);
      if (byte < 0x80) {
        if (value > 0xffffffff) throw new BinaryV2Error("a field length overflows");
        return value;
      }
    }
    throw new BinaryV2Error("a field length overflows");
  }
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
