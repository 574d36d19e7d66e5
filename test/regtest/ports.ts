import { createServer, type Server } from "node:net";

export const LOOPBACK = "127.0.0.1";

export class PortInUseError extends Error {
  override readonly name = "PortInUseError";
  constructor(
    readonly port: number,
    readonly purpose: string,
  ) {
    super(`Port ${port} on ${LOOPBACK}, wanted for ${purpose}, is already in use by another process`);
  }
}

function listen(port: number): Promise<Server> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port, host: LOOPBACK, exclusive: true }, () => resolvePromise(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolvePromise) => server.close(() => resolvePromise()));
}

/** Distinct free loopback ports, chosen by the kernel, so two networks on one machine don't collide. */
export async function allocatePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listen(0));
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("unexpected server address");
      return address.port;
    });
  } finally {
    await Promise.all(servers.map(close));
  }
}

/** Fails with a PortInUseError naming the purpose when something already listens on the port. */
export async function assertPortFree(port: number, purpose: string): Promise<void> {
  let server: Server;
  try {
    server = await listen(port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") throw new PortInUseError(port, purpose);
    throw error;
  }
  await close(server);
}
