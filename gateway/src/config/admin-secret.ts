/** The admin API's bearer secret must be at least this long. */
export const MIN_ADMIN_SECRET_LENGTH = 32;
const MIN_DISTINCT_CHARACTERS = 8;
const MAX_RUN = 5;

/** Words of placeholders and published samples (compared without case, separators or digits between letters). */
const PLACEHOLDER_WORDS = [
  "changeme",
  "example",
  "placeholder",
  "secret",
  "password",
  "passwd",
  "replace",
  "default",
  "sample",
  "dummy",
  "insecure",
];

/**
 * Why `secret` is not fit to guard the admin API, or undefined when it is: shorter than 32 characters, a placeholder
 * or sample word (change-me, example, secret…), fewer than 8 distinct characters, or a run of 6 or more characters
 * that repeat or count up or down (000000, 0123456789, abcdef). A secret from `openssl rand -base64 32` passes.
 */
export function adminSecretProblem(secret: string): string | undefined {
  if (secret.length < MIN_ADMIN_SECRET_LENGTH) {
    return `an admin secret needs at least ${MIN_ADMIN_SECRET_LENGTH} characters`;
  }
  const letters = secret.toLowerCase().replace(/[^a-z]/g, "");
  const word = PLACEHOLDER_WORDS.find((candidate) => letters.includes(candidate));
  if (word) return `an admin secret may not contain "${word}": it looks like a placeholder; use a random one`;
  if (new Set(secret).size < MIN_DISTINCT_CHARACTERS) {
    return `an admin secret needs at least ${MIN_DISTINCT_CHARACTERS} distinct characters; use a random one`;
  }
  const run = longestRun(secret);
  if (run) return `an admin secret may not hold the run "${run}"; use a random one`;
  return undefined;
}

/** The first run of more than MAX_RUN characters that repeat, or step by +1 or −1 (e.g. "123456", "fedcba"). */
function longestRun(text: string): string | undefined {
  for (const step of [0, 1, -1]) {
    let start = 0;
    for (let i = 1; i <= text.length; i++) {
      const continues = i < text.length && text.charCodeAt(i) - text.charCodeAt(i - 1) === step;
      if (continues) continue;
      if (i - start > MAX_RUN) return text.slice(start, i);
      start = i;
    }
  }
  return undefined;
}
