import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { L402ClientError } from "./errors.js";
import { sendFollowing } from "./redirects.js";
import { ReplayableRequest } from "./request-body.js";
import { fetchWithTimeouts } from "./timed-fetch.js";

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      if (req.url === "/silent") return; // never answers
      if (req.url === "/stall") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("first chunk");
        return; // then nothing, connection left open
      }
      if (req.url === "/redirect") {
        res.writeHead(307, { location: "/echo" }).end();
        return;
      }
      res.end(`${req.method} ${body}`);
    });
  });
  await new Promise<void>((resolveListen) => server.listen(0, "127.0.0.1", resolveListen));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolveClose) => server.close(resolveClose));
});

const send = (request: Request) => fetch(request);

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (error instanceof L402ClientError ? error.code : String(error)),
  );
}

describe("fetchWithTimeouts", () => {
  it("gives up on a server that sends no headers", async () => {
    const request = await ReplayableRequest.from(`${base}/silent`);
    const started = Date.now();
    const outcome = fetchWithTimeouts(send, (signal) => request.build(undefined, signal), {
      headersMs: 200,
      idleMs: 60_000,
    });
    expect(await codeOf(outcome)).toBe("request_timeout");
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("gives up on a body that stops in the middle, after delivering what came", async () => {
    const request = await ReplayableRequest.from(`${base}/stall`);
    const response = await fetchWithTimeouts(send, (signal) => request.build(undefined, signal), {
      headersMs: 60_000,
      idleMs: 200,
    });
    expect(response.status).toBe(200);
    expect(response.url).toBe(`${base}/stall`);
    const reader = response.body?.getReader();
    expect(new TextDecoder().decode((await reader?.read())?.value)).toBe("first chunk");
    expect(await codeOf(reader?.read() ?? Promise.resolve())).toBe("request_timeout");
  });

  it("replays a POST body through a 307 it follows itself, also on a second send of the same request", async () => {
    const request = await ReplayableRequest.from(`${base}/redirect`, { method: "POST", body: "keep me" });
    for (let send = 0; send < 2; send++) {
      const response = await sendFollowing(request, send === 0 ? undefined : "L402 x:y", {
        send: (built) => fetch(built),
        timeouts: { headersMs: 60_000, idleMs: 60_000 },
        allowInsecure: false,
      });
      expect(response.redirected).toBe(true);
      expect(await response.text()).toBe("POST keep me");
    }
  });

  it("leaves the caller's own abort working", async () => {
    const caller = new AbortController();
    const request = await ReplayableRequest.from(`${base}/silent`, { signal: caller.signal });
    const outcome = fetchWithTimeouts(send, (signal) => request.build(undefined, signal), {
      headersMs: 60_000,
      idleMs: 60_000,
    });
    caller.abort(new Error("caller gave up"));
    expect(await codeOf(outcome)).toContain("caller gave up");
  });
});
