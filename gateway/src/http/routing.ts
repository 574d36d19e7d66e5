import type { ServiceConfig } from "../config/schema.js";

export interface RouteMatch {
  readonly service: ServiceConfig;
  /** A whitelisted path: proxied without payment. */
  readonly free: boolean;
  /** Capabilities the token must carry for this request. */
  readonly requiredCapabilities: readonly string[];
}

export interface RequestLine {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** Host header without the port. */
  readonly host: string | undefined;
}

function matchesPathPattern(pattern: string, path: string): boolean {
  return pattern.endsWith("*") ? path.startsWith(pattern.slice(0, -1)) : path === pattern;
}

/** Finds the first service whose match rule fits the request (config order decides ties). */
export class ServiceRouter {
  private readonly compiled: { service: ServiceConfig; regex: RegExp | undefined }[];

  constructor(services: readonly ServiceConfig[]) {
    this.compiled = services.map((service) => ({
      service,
      regex: service.match.pathRegex === undefined ? undefined : new RegExp(service.match.pathRegex),
    }));
  }

  match(line: RequestLine): RouteMatch | undefined {
    for (const { service, regex } of this.compiled) {
      const { methods, pathPrefix, host } = service.match;
      if (methods && !methods.includes(line.method)) continue;
      if (host !== undefined && host.toLowerCase() !== line.host?.toLowerCase()) continue;
      if (pathPrefix !== undefined && !line.path.startsWith(pathPrefix)) continue;
      if (regex && !regex.test(line.path)) continue;
      const free = service.freePaths.some((pattern) => matchesPathPattern(pattern, line.path));
      const requiredCapabilities = service.capabilityRules
        .filter(
          (rule) => line.path.startsWith(rule.pathPrefix) && (!rule.methods || rule.methods.includes(line.method)),
        )
        .map((rule) => rule.capability);
      return { service, free, requiredCapabilities };
    }
    return undefined;
  }
}
