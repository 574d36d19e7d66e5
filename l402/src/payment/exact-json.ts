import { randomBytes } from "node:crypto";
import { canonicalJson } from "./jcs.js";

/**
 * JSON whose integers may exceed 2^53 (Aperture writes Go int64s as plain numbers): read with every integer beyond
 * Number.MAX_SAFE_INTEGER as a bigint, exactly, and written back as plain digits. Other numbers read as JSON.parse does.
 */
export function parseExactJson(text: string): unknown {
  const marker = `${randomBytes(12).toString("hex")}:`;
  const marked = markLargeIntegers(text, marker);
  return JSON.parse(marked, (_key, value: unknown) =>
    typeof value === "string" && value.startsWith(marker) ? BigInt(value.slice(marker.length)) : value,
  );
}

/** RFC 8785 canonical JSON of `value`, where bigints are written as their integer digits. */
export function canonicalExactJson(value: unknown): string {
  const marker = randomBytes(12).toString("hex");
  const text = canonicalJson(
    JSON.parse(JSON.stringify(value, (_key, item: unknown) => (typeof item === "bigint" ? `${marker}${item}` : item))),
  );
  return text.replace(new RegExp(`"${marker}(-?\\d+)"`, "g"), "$1");
}

/** Quotes (with `marker`) each integer literal outside strings that a double cannot hold exactly. */
function markLargeIntegers(text: string, marker: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const char = text[i] as string;
    if (char === '"') {
      const end = endOfString(text, i);
      out += text.slice(i, end);
      i = end;
    } else if (char === "-" || (char >= "0" && char <= "9")) {
      const match = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
      const literal = match?.[0] ?? char;
      const integer = match !== null && match[1] === undefined && match[2] === undefined;
      out += integer && !Number.isSafeInteger(Number(literal)) ? `"${marker}${literal}"` : literal;
      i += literal.length;
    } else {
      out += char;
      i++;
    }
  }
  return out;
}

/** The index after the string literal that starts at `start` (the end of the text when unterminated). */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === "\\") i += 2;
    else if (text[i] === '"') return i + 1;
    else i++;
  }
  return text.length;
}
