import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { Transform, type TransformCallback } from "node:stream";
import { Agent, type Dispatcher, errors as undiciErrors } from "undici";
import type { GatewayConfig } from "../config/schema.js";
import { sendJsonError } from "../http/errors.js";
import { BodyTooLargeError } from "../http/read-body.js";
import { upstreamTarget } from "../upstream/url.js";
import { endToEndHeaders, type ForwardedFor, upstreamRequestHeaders } from "./headers.js";
import { pump } from "./pump.js";

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
  | {
      readonly ok: true;
      readonly status: number;
      readonly ttfbSeconds: number;
      /** False when the client left or the upstream broke after the headers went out. */
      readonly complete: boolean;
    }
  | {
      readonly ok: false;
      readonly status: number;
      readonly code: string;
      /** Failed before the upstream sent a byte, nothing was answered yet: another upstream may be tried. */
      readonly retryable?: { readonly message: string };
    };

/** How a response is passed back, decided once its status and headers are known. */
export interface ResponsePlan {
  readonly headers?: Record<string, string>;
  /** Streamed through this transform (it must pass data on as it arrives). */
  readonly transform?: Transform;
  /** Or read whole, up to `maxBufferedBytes`, and returns extra headers to send with it. */
  readonly buffered?: (body: Buffer) => Promise<Record<string, string>>;
}

export interface ForwardOptions {
  /** A request body the gateway already read (and may have rewritten), sent instead of the client's stream. */
  readonly body?: Buffer;
  /**
   * Set when `body` is the gateway's own serialisation: it goes out with this content type and without the
   * client's content coding or digests, which described the client's bytes.
   */
  readonly bodyContentType?: string;
  readonly extraHeaders?: Record<string, string>;
  readonly plan?: (status: number, headers: IncomingHttpHeaders) => ResponsePlan | Promise<ResponsePlan>;
  /**
   * When the upstream cannot be reached or times out before answering, return a retryable outcome without
   * answering the client, so that the caller can try another upstream (the request body must be `body`).
   */
  readonly mayRetry?: boolean;
}

/** Whether a request carries a body that the proxy streams (and so cannot send a second time). */
export function hasRequestBody(req: IncomingMessage): boolean {
  const method = req.method ?? "GET";
  const declaredLength = Number(req.headers["content-length"] ?? 0);
  return method !== "GET" && method !== "HEAD" && (declaredLength > 0 || "transfer-encoding" in req.headers);
}

/** Headers that describe the client's body bytes, dropped when the gateway sends a body it serialised itself. */
const CLIENT_BODY_HEADERS = [
  "content-type",
  "content-encoding",
  "content-md5",
  "digest",
  "content-digest",
  "repr-digest",
];

/** Bound on a response the gateway reads whole to learn its usage before answering. */
const MAX_BUFFERED_RESPONSE_BYTES = 16 * 1_048_576;

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

async function readBounded(stream: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > limit) throw new Error(`upstream response exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
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
    options: ForwardOptions = {},
  ): Promise<ForwardOutcome> {
    const started = performance.now();
    const declaredLength = Number(req.headers["content-length"] ?? 0);
    if (options.body === undefined && declaredLength > this.maxBodyBytes) {
      sendJsonError(res, 413, "body_too_large", `request body exceeds ${this.maxBodyBytes} bytes`);
      req.resume();
      return { ok: false, status: 413, code: "body_too_large" };
    }
    const method = req.method ?? "GET";
    const hasBody = hasRequestBody(req);
    const abort = new AbortController();
    const onClientGone = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.once("close", onClientGone);
    let answered = false;
    try {
      let body: Buffer | Transform | undefined;
      const headers = { ...upstreamRequestHeaders(req.headers, forwarded, this.config.forwardCredential) };
      if (options.body !== undefined) {
        body = options.body;
        headers["content-length"] = String(options.body.length);
        if (options.bodyContentType !== undefined) {
          for (const name of CLIENT_BODY_HEADERS) delete headers[name];
          headers["content-type"] = options.bodyContentType;
        }
      } else if (hasBody) {
        const limited = req.pipe(byteLimit(this.maxBodyBytes));
        req.once("error", (error) => limited.destroy(error));
        body = limited;
      }
      const { origin, basePath } = upstreamTarget(upstream);
      const response = await this.agent.request({
        origin,
        path: `${basePath}${req.url ?? "/"}`,
        method: method as Dispatcher.HttpMethod,
        headers: { ...headers, ...options.extraHeaders },
        body,
        signal: abort.signal,
      });
      answered = true;
      const ttfbSeconds = (performance.now() - started) / 1000;
      const plan = (await options.plan?.(response.statusCode, response.headers)) ?? {};
      const outgoing = endToEndHeaders(response.headers);
      if (plan.buffered) {
        const whole = await readBounded(response.body, MAX_BUFFERED_RESPONSE_BYTES);
        const extra = await plan.buffered(whole);
        res.writeHead(response.statusCode, {
          ...outgoing,
          ...plan.headers,
          ...extra,
          "content-length": String(whole.length),
        });
        res.end(whole);
        return { ok: true, status: response.statusCode, ttfbSeconds, complete: true };
      }
      if (plan.transform) delete outgoing["content-length"];
      res.writeHead(response.statusCode, { ...outgoing, ...plan.headers });
      // A stream (SSE) shows its status at once; a sized body goes out with its headers in one write.
      if (outgoing["content-length"] === undefined) res.flushHeaders();
      if (!(await pump(response.body, res, plan.transform))) {
        // Client went away or the upstream broke mid-stream: the headers are out, so close the connection, after
        // flushing what was already written so the client gets every token it is charged for.
        const socket = res.socket;
        if (socket && !socket.destroyed) socket.end();
        else res.destroy();
        return { ok: true, status: response.statusCode, ttfbSeconds, complete: false };
      }
      return { ok: true, status: response.statusCode, ttfbSeconds, complete: true };
    } catch (error) {
      if (abort.signal.aborted) return { ok: false, status: 499, code: "client_closed" };
      const failure = classify(error);
      if (options.mayRetry && !answered && failure.status !== 413 && !res.headersSent) {
        return { ok: false, status: failure.status, code: failure.code, retryable: { message: failure.message } };
      }
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
