/** Sets `key` in `map`, first dropping the oldest entry (a Map iterates in insertion order) when it holds `max`. */
export function setBounded<K, V>(map: Map<K, V>, max: number, key: K, value: V): void {
  if (max <= 0) return;
  if (map.size >= max && !map.has(key)) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}
