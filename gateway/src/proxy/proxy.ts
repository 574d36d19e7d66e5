import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Readable, Transform } from "node:stream";
import { Agent, type Dispatcher, errors as undiciErrors, util as undiciUtil } from "undici";
import type { GatewayConfig } from "../config/schema.js";
import { BodyTooLargeError, byteLimit, readBody } from "../http/read-body.js";
import { bodyTooLarge, type Refusal, sendRefusal } from "../http/refusal.js";
import { takeRequestId } from "../http/response.js";
import { upstreamTarget } from "../upstream/url.js";
import { endToEndHeaders, type ForwardedFor, upstreamRequestHeaders } from "./headers.js";
import { pump } from "./pump.js";

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

/** What the caller asks of the forward, whichever upstream it goes to. */
export interface ForwardOptions {
  /** A request body the gateway already read (and may have rewritten), sent instead of the client's stream. */
  readonly body?: Buffer;
  /**
   * Set when `body` is the gateway's own serialisation: it goes out with this content type and without the
   * client's content coding or digests, which described the client's bytes.
   */
  readonly bodyContentType?: string;
  readonly plan?: (status: number, headers: IncomingHttpHeaders) => ResponsePlan | Promise<ResponsePlan>;
}

/**
 * One attempt's target, made by the forwarder per attempt and kept apart from the caller's options (merging them
 * with a spread gave every request's options a map of its own, see Exchange.answered).
 */
export interface UpstreamAttempt {
  readonly upstream: string;
  readonly forwarded: ForwardedFor;
  /** The request target sent upstream (the canonical path and query); the request's own `url` when absent. */
  readonly path?: string;
  /** Sent upstream as X-Request-Id. */
  readonly requestId?: string;
  /** The client's body, read whole by the forwarder so it can be sent again; used when the options have none. */
  readonly body?: Buffer;
  /**
   * When the upstream cannot be reached or times out before answering, return a retryable outcome without
   * answering the client, so that the caller can try another upstream (the request body must have been read).
   */
  readonly mayRetry?: boolean;
}

/** Whether a request carries a body that the proxy streams (and so cannot send a second time). */
export function hasRequestBody(req: IncomingMessage): boolean {
  const method = req.method ?? "GET";
  const declaredLength = Number(req.headers["content-length"] ?? 0);
  return method !== "GET" && method !== "HEAD" && (declaredLength > 0 || "transfer-encoding" in req.headers);
}

/**
 * A declared body up to this size is read whole and sent with the request line in one write, instead of being
 * streamed through a chain of streams: most API calls are small JSON documents that arrive with their headers.
 */
const READ_WHOLE_BELOW_BYTES = 64 * 1024;

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

function classify(error: unknown): Refusal {
  if (error instanceof BodyTooLargeError) return bodyTooLarge(error.message);
  if (
    error instanceof undiciErrors.ConnectTimeoutError ||
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError
  ) {
    return { status: 504, code: "upstream_timeout", message: "the upstream did not answer in time" };
  }
  return { status: 502, code: "upstream_unreachable", message: "the upstream could not be reached" };
}

/** Adds the response's X-Request-Id to a head's headers (its own object), so that Node writes them as they are. */
function withRequestId<Headers extends Record<string, string | string[]>>(
  res: ServerResponse,
  headers: Headers,
): Headers {
  const requestId = takeRequestId(res);
  if (requestId !== undefined) (headers as Record<string, string>)["x-request-id"] = requestId;
  return headers;
}

class ClientGoneError extends Error {
  override readonly name = "ClientGoneError";
}

/**
 * One request's exchange with the upstream, as an undici dispatch handler: the response's bytes go straight to the
 * client's response as the parser yields them, with backpressure (returning false pauses the upstream socket), and
 * no promise, stream or AbortController per request on the plain path. A plan's transform or buffered read takes
 * over when the caller asks for one.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private abortUpstream: ((reason?: Error) => void) | undefined;
  private clientGone = false;
  private settled = false;
  private status = 0;
  private ttfbSeconds = 0;
  /** Where the body goes once the plan is known: the response, a transform in front of it, or a buffer. */
  private sink: "response" | "transform" | "buffer" = "response";
  private transform: Transform | undefined;
  /** Set when the plan reads the body whole. */
  private buffered:
    | { plan: ResponsePlan; headers: Record<string, string | string[]>; chunks: Buffer[]; size: number }
    | undefined;
  private resumeUpstream: (() => void) | undefined;
  /** Whether onDrain listens on the response: only once a write found it full, so most answers never add it. */
  private drainListening = false;
  private readonly onClientClose = () => {
    if (this.res.writableFinished) return;
    this.clientGone = true;
    // The upstream stops working for nobody (an LLM stops generating); a transform's pump sees the close itself.
    if (this.sink !== "transform") this.abortUpstream?.(new ClientGoneError("client left"));
    if (this.status !== 0 && this.sink === "response") this.finish(this.answered(false));
  };
  private readonly onDrain = () => this.resumeUpstream?.();

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly options: ForwardOptions,
    private readonly mayRetry: boolean,
    private readonly started: number,
    private readonly resolve: (outcome: ForwardOutcome) => void,
  ) {
    // `on`, not `once` (which wraps the listener per request): finish removes it, and a response closes once.
    res.on("close", this.onClientClose);
  }

  /**
   * A literal, never `{ ...answered, complete }`: on Node 20's V8, properties added after an object spread give each
   * result a map of its own, and every read of such outcomes then misses V8's caches (a runtime call per read).
   */
  private answered(complete: boolean): ForwardOutcome {
    return { ok: true, status: this.status, ttfbSeconds: this.ttfbSeconds, complete };
  }

  private finish(outcome: ForwardOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.res.off("close", this.onClientClose);
    if (this.drainListening) this.res.off("drain", this.onDrain);
    this.resolve(outcome);
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.clientGone) abort(new ClientGoneError("client left"));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx interim answers are not passed on; the final answer follows on this handler.
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.ttfbSeconds = (performance.now() - this.started) / 1000;
    this.resumeUpstream = resume;
    const headers = undiciUtil.parseHeaders(rawHeaders) as IncomingHttpHeaders;
    const planned = this.options.plan?.(statusCode, headers);
    if (planned === undefined) {
      this.start({}, headers);
      return true;
    }
    if (!(planned instanceof Promise)) {
      this.start(planned, headers);
      return this.sink !== "transform" || !this.transform?.writableNeedDrain;
    }
    planned.then(
      (plan) => {
        this.start(plan, headers);
        resume();
      },
      (error: unknown) => this.abortUpstream?.(error instanceof Error ? error : new Error(String(error))),
    );
    return false;
  }

  private start(plan: ResponsePlan, headers: IncomingHttpHeaders): void {
    if (this.clientGone) {
      this.abortUpstream?.(new ClientGoneError("client left"));
      return;
    }
    const outgoing = endToEndHeaders(headers);
    if (plan.buffered) {
      this.sink = "buffer";
      this.buffered = { plan, headers: outgoing, chunks: [], size: 0 };
      return;
    }
    const { res } = this;
    if (plan.transform) {
      delete outgoing["content-length"];
      this.sink = "transform";
      this.transform = plan.transform;
      plan.transform.on("drain", this.onDrain);
      res.writeHead(this.status, withRequestId(res, plan.headers ? Object.assign(outgoing, plan.headers) : outgoing));
      res.flushHeaders();
      void pump(plan.transform as Readable, res).then((complete) => {
        if (!complete) this.abortUpstream?.(new ClientGoneError("client left"));
        this.finish(this.answered(complete));
      });
      return;
    }
    res.writeHead(this.status, withRequestId(res, plan.headers ? Object.assign(outgoing, plan.headers) : outgoing));
    // A stream (SSE) shows its status at once; a sized body goes out with its headers in one write.
    if (outgoing["content-length"] === undefined) res.flushHeaders();
  }

  onData(chunk: Buffer): boolean {
    switch (this.sink) {
      case "response": {
        if (this.settled || this.res.write(chunk)) return true;
        // Full: the upstream waits (false pauses its socket) until the response drains.
        if (!this.drainListening) {
          this.drainListening = true;
          this.res.on("drain", this.onDrain);
        }
        return false;
      }
      case "transform": {
        const transform = this.transform;
        return transform === undefined || transform.destroyed || transform.write(chunk);
      }
      case "buffer": {
        const buffer = this.buffered;
        if (buffer === undefined) return true;
        buffer.size += chunk.length;
        if (buffer.size > MAX_BUFFERED_RESPONSE_BYTES) {
          this.abortUpstream?.(new Error(`upstream response exceeds ${MAX_BUFFERED_RESPONSE_BYTES} bytes`));
        } else buffer.chunks.push(chunk);
        return true;
      }
    }
  }

  onComplete(): void {
    switch (this.sink) {
      case "response":
        if (this.settled) return;
        // Settled once the whole answer is handed to the socket, not on its "finish" (a listener per request).
        this.res.end();
        this.finish(this.answered(true));
        return;
      case "transform":
        this.transform?.end();
        return;
      case "buffer":
        void this.answerBuffered();
    }
  }

  private async answerBuffered(): Promise<void> {
    if (this.buffered === undefined) return;
    const { plan, headers, chunks } = this.buffered;
    const whole = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    try {
      const extra = (await plan.buffered?.(whole)) ?? {};
      if (this.clientGone) {
        this.finish(this.answered(false));
        return;
      }
      this.res.writeHead(
        this.status,
        withRequestId(
          this.res,
          Object.assign(headers, plan.headers, extra, { "content-length": String(whole.length) }),
        ),
      );
      this.res.end(whole, () => this.finish(this.answered(true)));
    } catch (error) {
      this.fail(error);
    }
  }

  onError(error: Error): void {
    this.fail(error);
  }

  private fail(error: unknown): void {
    if (this.settled) return;
    const { res, transform } = this;
    const reason = error instanceof Error ? error : new Error(String(error));
    // A transform's end is reported by its pump, which sees it fail.
    if (transform) {
      transform.destroy(reason);
      return;
    }
    if (this.clientGone) {
      this.finish({ ok: false, status: 499, code: "client_closed" });
      return;
    }
    if (res.headersSent) {
      // The upstream broke mid-stream with the headers out: close the connection, after flushing what was already
      // written so the client gets every token it is charged for.
      const socket = res.socket;
      if (socket && !socket.destroyed) socket.end();
      else res.destroy();
      this.finish(this.answered(false));
      return;
    }
    const failure = classify(error);
    if (this.mayRetry && this.status === 0 && failure.status !== 413) {
      this.finish({ ok: false, status: failure.status, code: failure.code, retryable: { message: failure.message } });
      return;
    }
    if (failure.status === 413) this.req.resume();
    this.finish({ ok: false, ...sendRefusal(res, failure) });
  }
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

  /**
   * Not an async function: a declared body is read with a callback into the one promise per request, so the plain
   * path adds no promise adoption ticks between the body's end and the dispatch.
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    attempt: UpstreamAttempt,
    options: ForwardOptions = {},
  ): Promise<ForwardOutcome> {
    const started = performance.now();
    const declaredLength = Number(req.headers["content-length"] ?? 0);
    const wholeBody = options.body ?? attempt.body;
    if (wholeBody === undefined && declaredLength > this.maxBodyBytes) {
      const refused = sendRefusal(res, bodyTooLarge(`request body exceeds ${this.maxBodyBytes} bytes`));
      req.resume();
      return Promise.resolve({ ok: false, ...refused });
    }
    const headers = upstreamRequestHeaders(req.headers, attempt.forwarded, this.config.forwardCredential);
    if (attempt.requestId !== undefined) headers["x-request-id"] = attempt.requestId;
    const dispatch = (body: Buffer | Readable | undefined, resolve: (outcome: ForwardOutcome) => void) =>
      this.dispatch(req, res, attempt, headers, body, options, started, resolve);
    if (wholeBody !== undefined) {
      headers["content-length"] = String(wholeBody.length);
      if (options.body !== undefined && options.bodyContentType !== undefined) {
        for (const name of CLIENT_BODY_HEADERS) delete headers[name];
        headers["content-type"] = options.bodyContentType;
      }
      return new Promise((resolve) => dispatch(wholeBody, resolve));
    }
    if (!hasRequestBody(req)) return new Promise((resolve) => dispatch(undefined, resolve));
    if (declaredLength > 0 && declaredLength <= READ_WHOLE_BELOW_BYTES && !("transfer-encoding" in req.headers)) {
      return new Promise((resolve) => {
        readBody(req, declaredLength).then(
          (body) => dispatch(body, resolve),
          () => {
            // The client left before its declared body arrived: nothing reached the upstream, nobody is waiting.
            res.destroy();
            resolve({ ok: false, status: 499, code: "client_closed" });
          },
        );
      });
    }
    const limited = req.pipe(byteLimit(this.maxBodyBytes));
    req.once("error", (error) => limited.destroy(error));
    return new Promise((resolve) => dispatch(limited, resolve));
  }

  private dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    attempt: UpstreamAttempt,
    headers: Record<string, string | string[]>,
    body: Buffer | Readable | undefined,
    options: ForwardOptions,
    started: number,
    resolve: (outcome: ForwardOutcome) => void,
  ): void {
    const { origin, basePath } = upstreamTarget(attempt.upstream);
    const path = attempt.path ?? req.url ?? "/";
    this.agent.dispatch(
      {
        origin,
        path: basePath === "" ? path : `${basePath}${path}`,
        method: (req.method ?? "GET") as Dispatcher.HttpMethod,
        headers,
        body,
      },
      new Exchange(req, res, options, attempt.mayRetry === true, started, resolve),
    );
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
