import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { BodyTooLargeError, readBody } from "./read-body.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A server that reads each request's body with `readBody` and hands the outcome to the test. */
async function reading(limit: number) {
  const outcomes: Promise<{ body?: Buffer; error?: Error; dataListeners: number }>[] = [];
  let requests = 0;
  const server = createServer((req: IncomingMessage, res) => {
    requests += 1;
    outcomes.push(
      readBody(req, limit).then(
        (body) => {
          res.end("ok");
          return { body, dataListeners: req.listenerCount("data") };
        },
        (error: Error) => {
          res.destroy();
          return { error, dataListeners: req.listenerCount("data") };
        },
      ),
    );
  });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const client = async (): Promise<Socket> => {
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    return socket;
  };
  const next = async () => {
    await expect.poll(() => outcomes.length).toBeGreaterThan(0);
    return outcomes.shift() as (typeof outcomes)[number];
  };
  /** Waits until the server holds `count` requests (their headers parsed). */
  const held = (count: number) => expect.poll(() => requests).toBe(count);
  return { client, next, held };
}

const head = (length: number | "chunked") =>
  `POST /v1/x HTTP/1.1\r\nhost: x\r\n${length === "chunked" ? "transfer-encoding: chunked" : `content-length: ${length}`}\r\n\r\n`;

describe("readBody", () => {
  it("reads a body that came with its headers whole, without listening for data", async () => {
    const server = await reading(1024);
    const socket = await server.client();
    const body = JSON.stringify({ prompt: "hi", n: "é" });
    socket.write(head(Buffer.byteLength(body)) + body);
    const outcome = await server.next();
    expect(outcome.body?.toString()).toBe(body);
    expect(outcome.dataListeners).toBe(0);
    socket.destroy();
  });

  it("waits for a body that arrives in parts after its headers", async () => {
    const server = await reading(1024);
    const socket = await server.client();
    socket.write(`${head(10)}01234`);
    // The second half goes only once the server holds the request (its first half was parsed).
    await server.held(1);
    socket.write("56789");
    const outcome = await server.next();
    expect(outcome.body?.toString()).toBe("0123456789");
    socket.destroy();
  });

  it("refuses a chunked body past the limit, and one declared past it at once", async () => {
    const server = await reading(8);
    const chunked = await server.client();
    chunked.write(`${head("chunked")}5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n`);
    expect((await server.next()).error).toBeInstanceOf(BodyTooLargeError);
    const declared = await server.client();
    declared.write(head(9));
    expect((await server.next()).error).toBeInstanceOf(BodyTooLargeError);
    chunked.destroy();
    declared.destroy();
  });

  it("fails, rather than waits, when the client leaves before its body ended", async () => {
    const server = await reading(1024);
    const socket = await server.client();
    socket.write(`${head(10)}01234`);
    await server.held(1);
    socket.destroy();
    const outcome = await server.next();
    expect(outcome.error).toBeInstanceOf(Error);
  });

  it("fails when the client left in the same packet as its partial body", async () => {
    const server = await reading(1024);
    const socket = await server.client();
    socket.end(`${head(10)}01234`);
    const outcome = await server.next();
    expect(outcome.error).toBeInstanceOf(Error);
  });
});
