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

/** A free-path pattern, compiled: a prefix when the pattern ends with `*`, else the exact key. */
interface PathPattern {
  readonly prefix: boolean;
  readonly text: string;
}

function compilePathPattern(pattern: string): PathPattern {
  return pattern.endsWith("*")
    ? { prefix: true, text: pattern.slice(0, -1) }
    : { prefix: false, text: pattern.replace(/\/+$/, "") || "/" };
}

/** Whether a path key fits a free-path pattern. */
function matchesPathPattern(pattern: PathPattern, key: string): boolean {
  return pattern.prefix ? key.startsWith(pattern.text) : key === pattern.text;
}

const NO_CAPABILITIES: readonly string[] = [];

interface CompiledService {
  readonly service: ServiceConfig;
  readonly pathPrefix: string | undefined;
  readonly regex: RegExp | undefined;
  readonly freePaths: readonly PathPattern[];
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
      freePaths: service.freePaths.map((path) => compilePathPattern(patternKey(path))),
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
      const requiredCapabilities =
        capabilityRules.length === 0
          ? NO_CAPABILITIES
          : capabilityRules
              .filter(
                (rule) =>
                  line.path.startsWith(rule.pathPrefix) && (!rule.methods || rule.methods.includes(line.method)),
              )
              .map((rule) => rule.capability);
      return { service, free, requiredCapabilities };
    }
    return undefined;
  }
}
