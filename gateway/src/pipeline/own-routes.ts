import type { IncomingMessage, ServerResponse } from "node:http";
import type { CanonicalTarget } from "../http/canonical-target.js";
import type { Outcome } from "./outcome.js";

/** One of the gateway's own endpoints (health, balance, manifest, quote, close): answered before any service. */
export type OwnRoute = (
  req: IncomingMessage,
  res: ServerResponse,
  target: CanonicalTarget,
) => Promise<Outcome> | Outcome;

/**
 * The gateway's own endpoints by method and canonical path, looked up before a service is matched. A read route
 * answers GET and HEAD. Two maps and no key building: the lookup costs the paid path one `Map.get`.
 */
export class OwnRoutes {
  readonly #reads = new Map<string, OwnRoute>();
  readonly #posts = new Map<string, OwnRoute>();

  /** Answers GET and HEAD of `path`. */
  read(path: string, route: OwnRoute): this {
    this.#reads.set(path, route);
    return this;
  }

  post(path: string, route: OwnRoute): this {
    this.#posts.set(path, route);
    return this;
  }

  /** The route for this method and canonical path key, if the gateway answers it itself. */
  find(method: string | undefined, path: string): OwnRoute | undefined {
    if (method === "GET" || method === "HEAD") return this.#reads.get(path);
    if (method === "POST") return this.#posts.get(path);
    return undefined;
  }
}
