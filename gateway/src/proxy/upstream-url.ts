/** A path on an upstream: the upstream URL's own path prefix (trailing slashes dropped), then `path`. */
export function upstreamUrl(upstream: string, path: string): string {
  const base = new URL(upstream);
  return `${base.origin}${base.pathname.replace(/\/+$/, "")}${path}`;
}
