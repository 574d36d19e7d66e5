import type { ServerResponse } from "node:http";

/** Answers `status` with `body` as JSON, sized, in one write; `headers` may name another JSON content type. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | readonly string[]> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    ...headers,
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}
