import { once } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { offlineGatewayConfig } from "../test-support/offline-config.js";
import { type ForwardOutcome, UpstreamProxy } from "./proxy.js";

const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const TOTAL_CHUNKS = 1024; // 64 MiB: far more than every socket and stream buffer on the way

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An upstream that writes TOTAL_CHUNKS chunks as fast as its socket takes them, counting what it wrote. */
function streamingUpstream() {
  const state = { written: 0, finished: false };
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    const writeMore = () => {
      while (state.written < TOTAL_CHUNKS) {
        state.written++;
        if (!res.write(CHUNK)) {
          res.once("drain", writeMore);
          return;
        }
      }
      res.end(() => {
        state.finished = true;
      });
    };
    writeMore();
  });
  return { server, state };
}

/** The proxy with the config's defaults (timeouts, credential not forwarded) and a 1 MiB body limit. */
function newProxy(): UpstreamProxy {
  const config = offlineGatewayConfig({
    services: [{ name: "s", match: { pathPrefix: "/" }, upstream: "http://127.0.0.1:1", price: { sats: 1 } }],
  });
  return new UpstreamProxy(config.proxy, 1_048_576);
}

const forwarded = { clientIp: "127.0.0.1", proto: "http", host: undefined };

describe("upstream proxy", () => {
  it("holds the upstream back while the client does not read, and delivers every byte once it does", async () => {
    const upstream = streamingUpstream();
    const upstreamUrl = await listen(upstream.server);
    const proxy = newProxy();
    const outcomes: ForwardOutcome[] = [];
    const gatewayUrl = await listen(
      createServer((req, res) => {
        void proxy.forward(req, res, { upstream: upstreamUrl, forwarded }).then((outcome) => outcomes.push(outcome));
      }),
    );
    const response = await new Promise<import("node:http").IncomingMessage>((resolve) =>
      request(`${gatewayUrl}/big`, resolve).end(),
    );
    response.pause();
    // Wait until the upstream can write no more: its count stays still while the client reads nothing.
    let still = 0;
    let seen = -1;
    while (still < 10) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      still = upstream.state.written === seen ? still + 1 : 0;
      seen = upstream.state.written;
      expect(upstream.state.finished, "the gateway read the whole answer for a client that reads nothing").toBe(false);
    }
    expect(upstream.state.written).toBeLessThan(TOTAL_CHUNKS / 2);
    let received = 0;
    response.on("data", (chunk: Buffer) => {
      received += chunk.length;
    });
    response.resume();
    await once(response, "end");
    expect(received).toBe(CHUNK.length * TOTAL_CHUNKS);
    expect(upstream.state.finished).toBe(true);
    await expect
      .poll(() => outcomes)
      .toEqual([{ ok: true, status: 200, ttfbSeconds: expect.any(Number), complete: true }]);
    await proxy.close();
  }, 60_000);

  it("stops the upstream when the client leaves before a buffered answer, and reads no usage from it", async () => {
    let upstreamClosed!: () => void;
    const upstreamGone = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    let requestArrived!: () => void;
    const arrived = new Promise<void>((resolve) => {
      requestArrived = resolve;
    });
    // An upstream that sends its headers, then works on (never ends) until its client goes.
    const slow = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"usage":');
      res.on("close", upstreamClosed);
      requestArrived();
    });
    const upstreamUrl = await listen(slow);
    const proxy = newProxy();
    const outcomes: ForwardOutcome[] = [];
    let usageRead = false;
    const gatewayUrl = await listen(
      createServer((req, res) => {
        void proxy
          .forward(
            req,
            res,
            { upstream: upstreamUrl, forwarded },
            {
              plan: () => ({
                buffered: async () => {
                  usageRead = true;
                  return {};
                },
              }),
            },
          )
          .then((outcome) => outcomes.push(outcome));
      }),
    );
    const client = request(`${gatewayUrl}/v1/completions`);
    client.on("error", () => {});
    client.end();
    await arrived;
    client.destroy();
    await upstreamGone;
    await expect.poll(() => outcomes).toEqual([{ ok: false, status: 499, code: "client_closed" }]);
    expect(usageRead).toBe(false);
    await proxy.close();
  });
});
