import { L402Error } from "./errors.js";

/**
 * One challenge of a WWW-Authenticate value (RFC 9110 §11.6.1); parameter names are lower-cased, the scheme is kept
 * as sent (compare it case-insensitively).
 */
export interface AuthChallenge {
  readonly scheme: string;
  readonly params: ReadonlyMap<string, string>;
  readonly token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

/**
 * Parses a WWW-Authenticate field value: `challenge *( OWS "," OWS challenge )`, where a challenge is
 * `auth-scheme [ 1*SP ( token68 / #auth-param ) ]` and an auth-param is `token BWS "=" BWS ( token / quoted-string )`.
 * A quoted-pair `\x` reads as `x`; a repeated parameter name keeps its first value; a new challenge starts at a token
 * not followed by `=`. Throws L402Error("malformed") on anything else.
 */
export function parseAuthChallenges(header: string): AuthChallenge[] {
  return new ChallengeReader(header).readAll();
}

class ChallengeReader {
  private position = 0;

  constructor(private readonly text: string) {}

  readAll(): AuthChallenge[] {
    const challenges: AuthChallenge[] = [];
    for (;;) {
      this.skipListSeparators();
      if (this.atEnd()) return challenges;
      challenges.push(this.readChallenge());
    }
  }

  private readChallenge(): AuthChallenge {
    const scheme = this.readToken();
    if (scheme === "") this.fail("expected an auth-scheme");
    const params = new Map<string, string>();
    if (this.atEnd() || this.peek() === ",") return { scheme, params };
    if (this.peek() !== " ") this.fail(`expected a space after ${scheme}`);
    this.skipWhitespace();
    if (this.atEnd() || this.peek() === ",") return { scheme, params };

    const token68 = this.tryToken68();
    if (token68 !== undefined) return { scheme, params, token68 };

    for (;;) {
      const name = this.readToken().toLowerCase();
      if (name === "") this.fail("expected a parameter name");
      this.skipWhitespace();
      if (this.peek() !== "=") this.fail(`expected = after ${name}`);
      this.position++;
      this.skipWhitespace();
      const value = this.peek() === '"' ? this.readQuotedString() : this.readToken();
      // A repeated name keeps its first value, as Aperture does.
      if (!params.has(name)) params.set(name, value);
      this.skipWhitespace();
      if (this.atEnd()) return { scheme, params };
      if (this.peek() !== ",") this.fail(`unexpected ${JSON.stringify(this.peek())} after ${name}`);
      if (!this.nextItemIsParam()) return { scheme, params };
    }
  }

  /** After a comma: skips separators and reports whether what follows is `token BWS "="` rather than a new scheme. */
  private nextItemIsParam(): boolean {
    this.skipListSeparators();
    const start = this.position;
    const name = this.readToken();
    this.skipWhitespace();
    const isParam = name !== "" && this.peek() === "=";
    this.position = start;
    return isParam;
  }

  private tryToken68(): string | undefined {
    const match = TOKEN68.exec(this.text.slice(this.position));
    if (!match) return undefined;
    const start = this.position;
    this.position += match[0].length;
    this.skipWhitespace();
    if (this.atEnd() || this.peek() === ",") return match[0];
    this.position = start;
    return undefined;
  }

  private readToken(): string {
    const start = this.position;
    while (!this.atEnd() && TCHAR.test(this.peek())) this.position++;
    return this.text.slice(start, this.position);
  }

  private readQuotedString(): string {
    this.position++;
    let value = "";
    while (!this.atEnd()) {
      const char = this.peek();
      this.position++;
      if (char === '"') return value;
      if (char === "\\") {
        if (this.atEnd()) break;
        value += this.peek();
        this.position++;
      } else {
        value += char;
      }
    }
    return this.fail("unterminated quoted string");
  }

  private skipWhitespace(): void {
    while (this.peek() === " " || this.peek() === "\t") this.position++;
  }

  private skipListSeparators(): void {
    while (this.peek() === " " || this.peek() === "\t" || this.peek() === ",") this.position++;
  }

  private peek(): string {
    return this.text.charAt(this.position);
  }

  private atEnd(): boolean {
    return this.position >= this.text.length;
  }

  private fail(reason: string): never {
    throw new L402Error("malformed", `WWW-Authenticate: ${reason} at offset ${this.position}`);
  }
}
