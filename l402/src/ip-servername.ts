import { isIP } from "node:net";

const DEP0123 = "DEP0123";
let installed = false;

/**
 * The `lightning` package connects to LND through grpc-js, which sets the TLS ServerName (SNI) to the socket's host
 * even when that is an IP address, and offers no option to leave it out. Node then warns (DEP0123) on the first
 * such connection of every process: on every paid call from the agent's CLI, and at every start of a gateway whose
 * LND socket is an IP address. Sending SNI for an IP is meaningless (RFC
 * 6066; Node will ignore it), and the certificate is still checked against the IP: only that one warning is dropped,
 * and only when the LND socket is an IP address. Every other warning is printed as before.
 */
export function quietIpServernameWarning(socket: string): void {
  if (installed || isIP(hostOf(socket)) === 0) return;
  installed = true;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (warningCode(warning, rest) === DEP0123) return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
}

function hostOf(socket: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(socket);
  if (bracketed?.[1] !== undefined) return bracketed[1];
  const colon = socket.lastIndexOf(":");
  return colon > 0 && socket.indexOf(":") === colon ? socket.slice(0, colon) : socket;
}

/** `emitWarning(warning, type, code)` or `emitWarning(warning, { type, code })`. */
function warningCode(warning: string | Error, rest: unknown[]): unknown {
  if (warning instanceof Error && "code" in warning) return warning.code;
  const [typeOrOptions, code] = rest;
  if (typeof typeOrOptions === "object" && typeOrOptions !== null && "code" in typeOrOptions) return typeOrOptions.code;
  return code;
}
