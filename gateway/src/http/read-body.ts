import type { IncomingMessage } from "node:http";
import { Transform, type TransformCallback } from "node:stream";
import { CodedError } from "@l402-gateway/l402";

/** A body past the route's byte limit (refusals/answers.ts: 413). */
export class BodyTooLargeError extends CodedError<"body_too_large"> {
  override readonly name = "BodyTooLargeError";

  constructor(message: string) {
    super("body_too_large", message);
  }
}

/**
 * The body, when the request has ended and nobody has read from it yet: taken from the stream's buffer in one
 * `read()`, with no listener or flowing mode. An Error for a body past `limit`; undefined while the body is still on
 * its way.
 */
function arrivedWhole(req: IncomingMessage, limit: number): Buffer | Error | undefined {
  if (!req.complete || req.readableFlowing === true) return undefined;
  if (req.readableLength > limit) {
    req.resume();
    return new BodyTooLargeError(`request body exceeds ${limit} bytes`);
  }
  return (req.read() as Buffer | null) ?? Buffer.alloc(0);
}

const settled = (body: Buffer | Error): Promise<Buffer> =>
  body instanceof Error ? Promise.reject(body) : Promise.resolve(body);

/** Reads a request body whole, failing as soon as it passes `limit` bytes or the client leaves before its end. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (Number(req.headers["content-length"] ?? 0) > limit) {
    req.resume();
    return Promise.reject(new BodyTooLargeError(`request body exceeds ${limit} bytes`));
  }
  const arrived = arrivedWhole(req, limit);
  if (arrived !== undefined) return settled(arrived);
  return new Promise((resolve, reject) => {
    // The request handler runs as soon as Node's parser has the headers (microtasks run then too); the rest of the
    // packet they came in (a small JSON body, usually all of it) is parsed after it, before the loop's check phase:
    // such a body is read whole then.
    setImmediate(() => {
      const body = arrivedWhole(req, limit);
      if (body === undefined) listenForBody(req, limit, resolve, reject);
      else if (body instanceof Error) reject(body);
      else resolve(body);
    });
  });
}

/** Gathers a body that is still arriving from its "data" events (not `for await`: an iterator per request costs). */
function listenForBody(
  req: IncomingMessage,
  limit: number,
  resolve: (body: Buffer) => void,
  reject: (error: Error) => void,
): void {
  const leftEarly = () => new Error("the client closed the connection before the body ended");
  // Its "close" may have gone by while the read waited for the check phase.
  if (req.destroyed) {
    reject(leftEarly());
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const done = (error?: Error) => {
    req.off("data", onData);
    req.off("end", onEnd);
    req.off("error", onError);
    req.off("close", onClose);
    if (error) reject(error);
    else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  };
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      done(new BodyTooLargeError(`request body exceeds ${limit} bytes`));
      req.resume();
    } else chunks.push(chunk);
  };
  const onEnd = () => done();
  const onError = (error: Error) => done(error);
  const onClose = () => {
    if (!req.complete) done(leftEarly());
  };
  // `on`, not `once` (which wraps each listener per request): done removes all four.
  req.on("data", onData);
  req.on("end", onEnd);
  req.on("error", onError);
  req.on("close", onClose);
}

/** Passes a body through and fails once more than `limit` bytes have gone by. */
export function byteLimit(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > limit) callback(new BodyTooLargeError(`request body exceeds ${limit} bytes`));
      else callback(null, chunk);
    },
  });
}
