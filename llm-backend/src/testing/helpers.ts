import { expect } from "vitest";
import { type RunningServer, startServer } from "../http/server.js";
import { DEFAULT_MODEL } from "../inference/default-model.js";

export const MODEL_ID = DEFAULT_MODEL.fileName.replace(/\.gguf$/, "");

/** Starts the backend on the cached default model, CPU only, on a free loopback port. */
export function startTestServer(overrides: Parameters<typeof startServer>[0] = {}, waitUntilReady = true) {
  return startServer(
    { gpu: "false", port: 0, host: "127.0.0.1", parallel: 4, contextSize: 512, logLevel: "warn", ...overrides },
    { waitUntilReady },
  );
}

export async function postJson(server: RunningServer, path: string, body: unknown, init: RequestInit = {}) {
  return fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
}

export function chatBody(content: string, extra: Record<string, unknown> = {}) {
  return { model: MODEL_ID, messages: [{ role: "user", content }], temperature: 0, ...extra };
}

/** Yields the JSON payload of each `data:` event of an SSE response; "[DONE]" is yielded as the string. */
export async function* sseEvents(response: Response): AsyncGenerator<unknown> {
  if (!response.body) throw new Error("response has no body");
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let boundary = buffer.indexOf("\n\n");
    while (boundary >= 0) {
      const event = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice("data: ".length);
        yield data === "[DONE]" ? data : JSON.parse(data);
      }
      boundary = buffer.indexOf("\n\n");
    }
  }
}

/** Reads one metric sample (a line of Prometheus text) by its name and label text, 0 when absent. */
export async function metricValue(server: RunningServer, series: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/**
 * Polls `condition` until it holds. The bound only stops a test that would never pass: it is generous, because
 * llama.cpp on shared cores can be many times slower than on a quiet machine.
 */
export async function waitFor(condition: () => Promise<boolean>, timeoutMs = 50_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export async function expectApiError(response: Response, status: number, param?: string | null) {
  expect(response.status).toBe(status);
  const body = (await response.json()) as {
    error: { message: string; type: string; param: string | null; code: string | null };
  };
  expect(body.error).toMatchObject({ message: expect.any(String), type: expect.any(String) });
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  if (param !== undefined) expect(body.error.param).toBe(param);
  return body.error;
}
