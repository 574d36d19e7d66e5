import type { ServiceConfig } from "../config/schema.js";
import { patternKey } from "./canonical-target.js";

export interface RouteMatch {
  readonly service: ServiceConfig;
  /** A whitelisted path: proxied without payment. */
  readonly free: boolean;
  /** Capabilities the token must carry for this request. */
  readonly requiredCapabilities: readonly string[];
}

export interface RequestLine {
  readonly method: string;
  /** The canonical path's comparison key (see canonical-target.ts): lower case, no query string. */
  readonly path: string;
  /** Host header without the port. */
  readonly host: string | undefined;
}

/** Whether a path key fits a free-path pattern: exact, or a prefix when the pattern ends with `*`. */
function matchesPathPattern(pattern: string, key: string): boolean {
  return pattern.endsWith("*") ? key.startsWith(pattern.slice(0, -1)) : key === (pattern.replace(/\/+$/, "") || "/");
}

interface CompiledService {
  readonly service: ServiceConfig;
  readonly pathPrefix: string | undefined;
  readonly regex: RegExp | undefined;
  readonly freePaths: readonly string[];
  readonly capabilityRules: readonly { pathPrefix: string; methods?: string[]; capability: string }[];
}

/**
 * Finds the first service whose match rule fits the request (config order decides ties). Every path pattern is
 * compared with the canonical path's key, case-insensitively, so that no spelling of a path gets another service,
 * free-path or capability answer.
 */
export class ServiceRouter {
  private readonly compiled: CompiledService[];

  constructor(services: readonly ServiceConfig[]) {
    this.compiled = services.map((service) => ({
      service,
      pathPrefix: service.match.pathPrefix === undefined ? undefined : patternKey(service.match.pathPrefix),
      regex: service.match.pathRegex === undefined ? undefined : new RegExp(service.match.pathRegex, "i"),
      freePaths: service.freePaths.map(patternKey),
      capabilityRules: service.capabilityRules.map((rule) => ({ ...rule, pathPrefix: patternKey(rule.pathPrefix) })),
    }));
  }

  match(line: RequestLine): RouteMatch | undefined {
    for (const { service, pathPrefix, regex, freePaths, capabilityRules } of this.compiled) {
      const { methods, host } = service.match;
      if (methods && !methods.includes(line.method)) continue;
      if (host !== undefined && host.toLowerCase() !== line.host?.toLowerCase()) continue;
      if (pathPrefix !== undefined && !line.path.startsWith(pathPrefix)) continue;
      if (regex && !regex.test(line.path)) continue;
      const free = freePaths.some((pattern) => matchesPathPattern(pattern, line.path));
      const requiredCapabilities = capabilityRules
        .filter(
          (rule) => line.path.startsWith(rule.pathPrefix) && (!rule.methods || rule.methods.includes(line.method)),
        )
        .map((rule) => rule.capability);
      return { service, free, requiredCapabilities };
    }
    return undefined;
  }
}
