import type { ServiceConfig } from "./schema.js";

/** A service's upstream URLs: `upstream` first, then `upstreams`, without duplicates. */
export function upstreamsOf(service: Pick<ServiceConfig, "upstream" | "upstreams">): string[] {
  const all = [...(service.upstream === undefined ? [] : [service.upstream]), ...(service.upstreams ?? [])];
  return [...new Set(all)];
}
