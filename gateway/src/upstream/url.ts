export interface UpstreamTarget {
  readonly origin: string;
  /** The upstream URL's own path prefix, trailing slashes dropped ("" for none). */
  readonly basePath: string;
}

/** Upstream URLs come from the config, so there are few: each is parsed once, not once per request. */
const parsed = new Map<string, UpstreamTarget>();

export function upstreamTarget(upstream: string): UpstreamTarget {
  let target = parsed.get(upstream);
  if (target === undefined) {
    const base = new URL(upstream);
    target = { origin: base.origin, basePath: base.pathname.replace(/\/+$/, "") };
    if (parsed.size >= 1_000) parsed.clear();
    parsed.set(upstream, target);
  }
  return target;
}

/** A path on an upstream: the upstream URL's own path prefix (trailing slashes dropped), then `path`. */
export function upstreamUrl(upstream: string, path: string): string {
  const { origin, basePath } = upstreamTarget(upstream);
  return `${origin}${basePath}${path}`;
}
