import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { pricingSchema } from "../config/pricing-schema.js";
import { TokenCountError, TokenCounter, type UpstreamChoice } from "./token-counter.js";

const settings = pricingSchema.parse({ rules: [{ perCallMsat: 1 }] }).tokenCounting;
/** Nothing listens here: a connection is refused at once. */
const DEAD = "http://127.0.0.1:1";

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A tokenizer that answers one token per character. */
async function tokenizer(): Promise<string> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      const { content } = JSON.parse(body) as { content: string };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ tokens: [...content].map((_, i) => i) }));
    });
  });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A pool of `urls` that picks them in order, the way a pool whose first member has not been ejected yet would. */
function poolOf(urls: readonly string[]) {
  const failures: string[] = [];
  const choice: UpstreamChoice = {
    pick: (exclude = new Set()) => urls.find((url) => !exclude.has(url)),
    reportFailure: (url) => failures.push(url),
  };
  return { choice, failures };
}

describe("token counter", () => {
  it("asks another upstream of the pool when the one it picked does not answer, and reports the failed one", async () => {
    const live = await tokenizer();
    const { choice, failures } = poolOf([DEAD, live]);
    const counter = new TokenCounter(choice, settings);
    expect(await counter.textTokens("hello", false)).toBe(5);
    expect(failures).toEqual([DEAD]);
  });

  it("fails as unavailable when no upstream of the pool answers, after one more try", async () => {
    const { choice, failures } = poolOf([DEAD, "http://127.0.0.1:2"]);
    const counter = new TokenCounter(choice, settings);
    const failure = await counter.textTokens("hello", false).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TokenCountError);
    expect((failure as TokenCountError).refusedByUpstream).toBe(false);
    expect(failures).toEqual([DEAD, "http://127.0.0.1:2"]);
  });

  it("counts on a single upstream given by its URL", async () => {
    const counter = new TokenCounter(await tokenizer(), settings);
    expect(await counter.textTokens("héllo", false)).toBe(5);
  });
});
