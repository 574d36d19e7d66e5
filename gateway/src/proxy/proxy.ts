import type { IncomingMessage, ServerResponse } from "node:http";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Agent, type Dispatcher, request, errors as undiciErrors } from "undici";
import type { GatewayConfig } from "../config/schema.js";
import { sendJsonError } from "../http/errors.js";
import { endToEndHeaders, type ForwardedFor, upstreamRequestHeaders } from "./headers.js";

class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
}

/** Passes the body through and fails once more than `limit` bytes have gone by. */
function byteLimit(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > limit) callback(new BodyTooLargeError(`request body exceeds ${limit} bytes`));
      else callback(null, chunk);
    },
  });
}

export type ForwardOutcome =
  | { readonly ok: true; readonly status: number; readonly ttfbSeconds: number }
  | { readonly ok: false; readonly status: number; readonly code: string };

function upstreamUrl(upstream: string, originalUrl: string): string {
  const base = new URL(upstream);
  const basePath = base.pathname.replace(/\/+$/, "");
  return `${base.origin}${basePath}${originalUrl}`;
}

function classify(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof BodyTooLargeError) return { status: 413, code: "body_too_large", message: error.message };
  if (
    error instanceof undiciErrors.ConnectTimeoutError ||
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError
  ) {
    return { status: 504, code: "upstream_timeout", message: "the upstream did not answer in time" };
  }
  return { status: 502, code: "upstream_unreachable", message: "the upstream could not be reached" };
}

/** Streams requests to an upstream and the responses back, token by token for SSE, with no buffering. */
export class UpstreamProxy {
  private readonly agent: Agent;

  constructor(
    private readonly config: GatewayConfig["proxy"],
    private readonly maxBodyBytes: number,
  ) {
    this.agent = new Agent({
      connectTimeout: config.connectTimeoutMs,
      headersTimeout: config.idleTimeoutMs,
      bodyTimeout: config.idleTimeoutMs,
    });
  }

  async forward(
    req: IncomingMessage,
    res: ServerResponse,
    upstream: string,
    forwarded: ForwardedFor,
    extraHeaders: Record<string, string> = {},
  ): Promise<ForwardOutcome> {
    const started = performance.now();
    const declaredLength = Number(req.headers["content-length"] ?? 0);
    if (declaredLength > this.maxBodyBytes) {
      sendJsonError(res, 413, "body_too_large", `request body exceeds ${this.maxBodyBytes} bytes`);
      req.resume();
      return { ok: false, status: 413, code: "body_too_large" };
    }
    const method = req.method ?? "GET";
    const hasBody = method !== "GET" && method !== "HEAD" && (declaredLength > 0 || "transfer-encoding" in req.headers);
    const abort = new AbortController();
    const onClientGone = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.once("close", onClientGone);
    try {
      const body = hasBody ? req.pipe(byteLimit(this.maxBodyBytes)) : undefined;
      if (body) req.once("error", (error) => body.destroy(error));
      const response = await request(upstreamUrl(upstream, req.url ?? "/"), {
        method: method as Dispatcher.HttpMethod,
        headers: { ...upstreamRequestHeaders(req.headers, forwarded, this.config.forwardCredential), ...extraHeaders },
        body,
        dispatcher: this.agent,
        signal: abort.signal,
      });
      const ttfbSeconds = (performance.now() - started) / 1000;
      res.writeHead(response.statusCode, endToEndHeaders(response.headers));
      // A stream (SSE) shows its status at once; a sized body goes out with its headers in one write.
      if (response.headers["content-length"] === undefined) res.flushHeaders();
      try {
        await pipeline(response.body, res);
      } catch {
        // Client went away or the upstream broke mid-stream: the headers are out, so just close.
        res.destroy();
      }
      return { ok: true, status: response.statusCode, ttfbSeconds };
    } catch (error) {
      if (abort.signal.aborted) return { ok: false, status: 499, code: "client_closed" };
      const failure = classify(error);
      sendJsonError(res, failure.status, failure.code, failure.message);
      return { ok: false, status: failure.status, code: failure.code };
    } finally {
      res.off("close", onClientGone);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
