import { CodedError } from "@l402-gateway/l402";

/**
 * The one reading of a request target that the gateway routes, checks capabilities on, prices and forwards.
 *
 * Upstreams read a path in different ways: Express matches it case-insensitively and ignores a trailing slash,
 * Starlette and cpp-httplib percent-decode it before routing, URL libraries resolve dot segments. The gateway
 * resolves every such spelling to one canonical form and forwards that form, so the upstream cannot see another
 * endpoint than the one that was priced. Spellings whose meaning differs between upstreams (an encoded `/` or `\`,
 * a literal `\`, control characters) are refused.
 */
export interface CanonicalTarget {
  /** Dot segments resolved, duplicate and trailing slashes removed, percent-encoding normalised; sent upstream. */
  readonly path: string;
  /** The path as compared with routes, free paths, capability rules and price rules: `path` in lower case. */
  readonly key: string;
  /** The query string with its `?`, or "" (passed on unchanged; it is not part of any price). */
  readonly query: string;
}

/** A request target the gateway will not route (refusals/answers.ts: 400). */
export class InvalidTargetError extends CodedError<"invalid_path"> {
  override readonly name = "InvalidTargetError";

  constructor(message: string) {
    super("invalid_path", message);
  }
}

/** Characters a path segment may carry literally (RFC 3986 pchar without `%`); every other byte is percent-encoded. */
const LITERAL = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });
/** A path already in canonical form: non-empty segments of literal characters, none of them `.` or `..`. */
const ALREADY_CANONICAL = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,;=:@]+)+$/;

function decodeSegment(segment: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i] as string;
    if (char === "%") {
      const hex = segment.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new InvalidTargetError("the path has a malformed percent-encoding");
      const byte = Number.parseInt(hex, 16);
      // An encoded separator is a segment boundary for some upstreams and a character for others.
      if (byte === 0x2f || byte === 0x5c) throw new InvalidTargetError("the path encodes a / or \\");
      bytes.push(byte);
      i += 2;
    } else {
      bytes.push(...Buffer.from(char, "utf8"));
    }
  }
  let text: string;
  try {
    text = utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw new InvalidTargetError("the path is not valid UTF-8 once decoded");
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  if (/[\u0000-\u001f\u007f]/.test(text)) throw new InvalidTargetError("the path holds control characters");
  return text;
}

function encodeSegment(segment: string): string {
  let out = "";
  for (const char of segment) {
    if (LITERAL.test(char)) out += char;
    else for (const byte of Buffer.from(char, "utf8")) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Canonicalises an origin-form request target (`/path?query`); throws InvalidTargetError for anything else. */
export function canonicalTarget(rawTarget: string): CanonicalTarget {
  if (!rawTarget.startsWith("/")) throw new InvalidTargetError("the request target must be a path starting with /");
  const queryAt = rawTarget.indexOf("?");
  const rawPath = queryAt < 0 ? rawTarget : rawTarget.slice(0, queryAt);
  const query = queryAt < 0 ? "" : rawTarget.slice(queryAt);
  // Most targets are already canonical: they are passed on as they are, without decoding and encoding each segment.
  const path = ALREADY_CANONICAL.test(rawPath) ? rawPath : canonicalPath(rawPath);
  return { path, key: path.toLowerCase(), query };
}

/** The canonical form of a path (without its query), segment by segment; throws InvalidTargetError. */
export function canonicalPath(rawPath: string): string {
  if (rawPath.includes("\\")) throw new InvalidTargetError("the path holds a \\");
  if (rawPath.includes("#")) throw new InvalidTargetError("the path holds a #");
  const segments: string[] = [];
  for (const raw of rawPath.split("/")) {
    const segment = decodeSegment(raw);
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return `/${segments.map(encodeSegment).join("/")}`;
}

/** Lower case, as every path pattern of the config is compared with a canonical key. */
export function patternKey(pattern: string): string {
  return pattern.toLowerCase();
}
