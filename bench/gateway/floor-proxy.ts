// The floor for the gateway's request path: the least a Node proxy does per request, with what the gateway uses for
// it. A node:http server, and an undici Agent (the gateway's upstream client) dispatching each request to the upstream
// with its body and headers, the answer's status, headers and body written back as they arrive. No auth, no logging,
// no metrics, no routing. What the gateway spends beyond this per request is its own. Prints its URL.
//
//   tsx bench/gateway/floor-proxy.ts <upstream-url>
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Agent, type Dispatcher, util } from "undici";

const [upstream] = process.argv.slice(2);
if (!upstream) throw new Error("usage: floor-proxy.ts <upstream-url>");
const origin = new URL(upstream).origin;
const agent = new Agent();

/** Passes one answer back: status and headers as soon as they come, then the body with backpressure. */
class Pass implements Dispatcher.DispatchHandler {
  constructor(private readonly res: ServerResponse) {}
  onConnect(): void {}
  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    const headers = util.parseHeaders(rawHeaders) as OutgoingHttpHeaders;
    delete headers.connection;
    delete headers["keep-alive"];
    this.res.writeHead(status, headers);
    this.res.on("drain", resume);
    return true;
  }
  onData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }
  onComplete(): void {
    this.res.end();
  }
  onError(): void {
    if (this.res.headersSent) this.res.destroy();
    else this.res.writeHead(502).end();
  }
}

function forward(req: IncomingMessage, res: ServerResponse, body: Buffer | undefined): void {
  const headers = { ...req.headers };
  delete headers.host;
  delete headers.connection;
  agent.dispatch(
    { origin, path: req.url ?? "/", method: (req.method ?? "GET") as Dispatcher.HttpMethod, headers, body },
    new Pass(res),
  );
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => forward(req, res, chunks.length === 0 ? undefined : Buffer.concat(chunks)));
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
// SIGINT: exit normally, so that node writes a CPU profile when one is being recorded.
process.once("SIGINT", () => process.exit(0));
