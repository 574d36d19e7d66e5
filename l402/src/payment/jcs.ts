import canonicalize from "canonicalize";

/**
 * RFC 8785 (JCS) canonical JSON of `value`: keys sorted by UTF-16 code units, no whitespace, only `"`, `\` and C0
 * controls escaped (short forms where JSON has them), numbers in ECMAScript form. Throws RangeError for values JSON
 * cannot hold (undefined at the top, NaN, Infinity, lone surrogates, cycles).
 */
export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (error) {
    throw new RangeError(`cannot canonicalise: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (text === undefined) throw new RangeError("cannot canonicalise a value with no JSON form");
  return text;
}
