import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Node closes an idle keep-alive socket after 5 s, about when clients (undici: the server's hint less 1–2 s, on a coarse
 * timer) stop reusing it; a request sent into that closing socket is reset. Holding sockets for 65 s leaves a margin
 * that event-loop lag does not eat.
 */
const KEEP_ALIVE_MS = 65_000;

/** `exclusive`: in a cluster worker, bind this process's own socket instead of sharing the primary's. */
export async function listen(
  server: Server,
  port: number,
  host: string,
  scheme = "http",
  exclusive = false,
): Promise<string> {
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 1_000;
  await new Promise<void>((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen({ port, host, exclusive }, () => resolvePromise());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `${scheme}://${shown}:${address.port}`;
}

export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolvePromise) => server.close(() => resolvePromise()));
}
