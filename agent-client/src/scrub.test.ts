import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import type { Presented } from "./presented.js";
import { credentialSecrets, REDACTED, scrubbingStream, scrubSecrets } from "./scrub.js";

const PREIMAGE = "ab".repeat(32);
const MACAROON = "AgEDbHNhdAJCAAB+/mac+aroon/base64==";
const presented: Presented = {
  kind: "token",
  token: {
    origin: "https://api.test",
    service: "llm",
    macaroon: MACAROON,
    scheme: "L402",
    preimage: PREIMAGE,
    paymentHash: "cd".repeat(32),
    validUntil: null,
    createdAt: "2026-12-01T00:00:00.000Z",
    lastUsedAt: "2026-12-01T00:00:00.000Z",
  },
};

describe("scrubbing echoed credentials", () => {
  const secrets = credentialSecrets(presented);

  it("names the Authorization value, the macaroon and the preimage of a token", () => {
    expect(secrets).toEqual([`L402 ${MACAROON}:${PREIMAGE}`, `${MACAROON}:${PREIMAGE}`, MACAROON, PREIMAGE]);
  });

  it("removes every echo: whole, JSON-escaped, base64url, hex in either case", () => {
    const echoed = JSON.stringify({
      you_sent: `L402 ${MACAROON}:${PREIMAGE}`,
      macaroon_url: MACAROON.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""),
      preimage: PREIMAGE.toUpperCase(),
    }).replaceAll("/", "\\/");
    const scrubbed = scrubSecrets(`${echoed} and ${MACAROON}`, secrets);
    expect(scrubbed).toBe(
      `{"you_sent":"${REDACTED}","macaroon_url":"${REDACTED}","preimage":"${REDACTED}"} and ${REDACTED}`,
    );
    expect(scrubSecrets("nothing secret here", secrets)).toBe("nothing secret here");
    expect(scrubSecrets("short", ["short"])).toBe("short");
  });

  it("scrubs a streamed body whose secret is split across chunks, and leaves binary bytes as they are", async () => {
    const body = Buffer.concat([Buffer.from([0xff, 0x00, 0xc3, 0xa9]), Buffer.from(`token: ${PREIMAGE} end`)]);
    const chunks = [body.subarray(0, 20), body.subarray(20, 41), body.subarray(41)];
    const out = await text(Readable.from(chunks).pipe(scrubbingStream(secrets)));
    expect(Buffer.from(out, "utf8").includes(Buffer.from(PREIMAGE))).toBe(false);
    const bytes = await new Promise<Buffer>((resolveBytes) => {
      const parts: Buffer[] = [];
      Readable.from(chunks)
        .pipe(scrubbingStream(secrets))
        .on("data", (part: Buffer) => parts.push(part))
        .on("end", () => resolveBytes(Buffer.concat(parts)));
    });
    expect(bytes).toEqual(
      Buffer.concat([Buffer.from([0xff, 0x00, 0xc3, 0xa9]), Buffer.from(`token: ${REDACTED} end`)]),
    );
  });
});
