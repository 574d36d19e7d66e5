import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface TestUpstream {
  readonly url: string;
  readonly seen: SeenRequest[];
  /** Lets the SSE stream send its next event; each stream waits for one release per event after the first. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A trivial upstream API: `/v1/echo` returns what it received, `/v1/fail` answers 500, `/v1/stream` sends server-sent events one at a time
 * (after the first, each waits for `release()`, so a test can prove the gateway streams instead of buffering).
 */
export async function startUpstream(): Promise<TestUpstream> {
  const seen: SeenRequest[] = [];
  const waiting: (() => void)[] = [];
  let credits = 0;
  const nextRelease = () =>
    new Promise<void>((resolvePromise) => {
      if (credits > 0) {
        credits -= 1;
        resolvePromise();
      } else {
        waiting.push(resolvePromise);
      }
    });

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    };
    seen.push(request);
    if (req.url?.startsWith("/v1/fail")) {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "upstream failure" }));
      return;
    }
    if (req.url?.startsWith("/v1/stream")) {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "x-upstream": "yes" });
      for (let i = 1; i <= 3; i++) {
        if (i > 1) await nextRelease();
        res.write(`data: {"chunk":${i}}\n\n`);
      }
      res.end("data: [DONE]\n\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/json", connection: "x-private-hop", "x-private-hop": "secret" });
    res.end(JSON.stringify(request));
  });
  await new Promise<void>((resolvePromise) => server.listen(0, "127.0.0.1", resolvePromise));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    release: () => {
      const next = waiting.shift();
      if (next) next();
      else credits += 1;
    },
    close: () =>
      new Promise((resolvePromise) => {
        server.closeAllConnections();
        server.close(() => resolvePromise());
      }),
  };
}
