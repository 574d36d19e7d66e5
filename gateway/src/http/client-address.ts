import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import proxyAddr from "proxy-addr";
import type { GatewayConfig } from "../config/schema.js";

/** Who sent a request and how, after applying `trustProxy` the way Express's `trust proxy` setting does. */
export interface ClientInfo {
  readonly ip: string;
  readonly protocol: "http" | "https";
  /** The Host header, or a trusted X-Forwarded-Host, without its port. */
  readonly hostname: string | undefined;
}

type Trust = (address: string, hop: number) => boolean;

/** Compiles the `trustProxy` setting as Express does: true/false, a hop count, or a list of addresses and subnets. */
function compileTrust(setting: GatewayConfig["trustProxy"]): Trust {
  if (setting === true) return () => true;
  if (setting === false) return () => false;
  if (typeof setting === "number") return (_address, hop) => hop < setting;
  return proxyAddr.compile(
    setting
      .split(",")
      .map((entry) => entry.trim())
      .filter(Boolean),
  );
}

const firstListed = (value: string): string => {
  const comma = value.indexOf(",");
  return (comma === -1 ? value : value.slice(0, comma)).trim();
};

function withoutPort(host: string): string {
  const offset = host.startsWith("[") ? host.indexOf("]") + 1 : 0;
  const colon = host.indexOf(":", offset);
  return colon === -1 ? host : host.slice(0, colon);
}

/** Reads each request's client address, protocol and host once; the answer is kept with the request. */
export class ClientAddresses {
  private readonly trust: Trust;
  /**
   * Where this reader keeps a request's answer: a property on the request under a symbol of its own (a reader with
   * another `trustProxy` keeps its own), cheaper per request than a WeakMap entry.
   */
  private readonly key = Symbol("clientInfo");

  constructor(setting: GatewayConfig["trustProxy"]) {
    this.trust = compileTrust(setting);
  }

  of(req: IncomingMessage): ClientInfo {
    const kept = req as IncomingMessage & Partial<Record<symbol, ClientInfo>>;
    let info = kept[this.key];
    if (info === undefined) {
      info = this.read(req);
      kept[this.key] = info;
    }
    return info;
  }

  private read(req: IncomingMessage): ClientInfo {
    const peer = req.socket.remoteAddress ?? "";
    const peerTrusted = this.trust(peer, 0);
    const header = (name: string): string | undefined => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    let protocol: "http" | "https" = (req.socket as TLSSocket).encrypted ? "https" : "http";
    const forwardedProto = peerTrusted ? header("x-forwarded-proto") : undefined;
    if (forwardedProto) protocol = firstListed(forwardedProto) === "https" ? "https" : "http";
    const forwardedHost = peerTrusted ? header("x-forwarded-host") : undefined;
    const host = forwardedHost ? firstListed(forwardedHost) : header("host");
    return {
      ip: (peerTrusted ? proxyAddr(req, this.trust) : peer) || "unknown",
      protocol,
      hostname: host ? withoutPort(host) : undefined,
    };
  }
}
