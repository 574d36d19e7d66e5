import { L402ClientError } from "./errors.js";

export interface Timeouts {
  /** From sending the request until the response headers arrive, connecting included. */
  readonly headersMs: number;
  /** The longest pause between two chunks of the response body. */
  readonly idleMs: number;
}

/**
 * Sends `request` through `send`, aborting it with L402ClientError `request_timeout` when the headers take longer
 * than `headersMs` or the body pauses longer than `idleMs`. Works with any fetch that honours the request's signal;
 * the caller's own signal still aborts as before.
 */
export async function fetchWithTimeouts(
  send: (request: Request) => Promise<Response>,
  build: (signal: AbortSignal) => Request,
  timeouts: Timeouts,
): Promise<Response> {
  const controller = new AbortController();
  const request = build(controller.signal);
  const timedOut = (what: string) =>
    new L402ClientError("request_timeout", `${new URL(request.url).origin} ${what}; gave up on ${request.url}`);
  let reason: L402ClientError | undefined;
  const abortWith = (error: L402ClientError) => {
    reason = error;
    controller.abort(error);
  };
  const headersTimer = setTimeout(
    () => abortWith(timedOut(`sent no response headers within ${timeouts.headersMs} ms`)),
    timeouts.headersMs,
  );
  let response: Response;
  try {
    response = await send(request);
  } catch (error) {
    throw reason ?? error;
  } finally {
    clearTimeout(headersTimer);
  }
  const source = response.body;
  if (source === null) return response;
  const reader = source.getReader();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(stream) {
        const idleTimer = setTimeout(
          () => abortWith(timedOut(`sent nothing for ${timeouts.idleMs} ms in the middle of the body`)),
          timeouts.idleMs,
        );
        try {
          const chunk = await reader.read();
          if (chunk.done) stream.close();
          else stream.enqueue(chunk.value);
        } catch (error) {
          stream.error(reason ?? error);
        } finally {
          clearTimeout(idleTimer);
        }
      },
      cancel: (why) => reader.cancel(why),
    },
    // Read only when the caller reads: the idle timer then measures the server, never a slow reader.
    { highWaterMark: 0 },
  );
  const wrapped = new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  return withFinalUrl(wrapped, response.url, response.redirected);
}

/** Sets what the Response constructor cannot: the final URL and whether redirects led there (SDKs read them). */
export function withFinalUrl(response: Response, url: string, redirected: boolean): Response {
  return Object.defineProperties(response, {
    url: { value: url, configurable: true },
    redirected: { value: redirected, configurable: true },
  });
}
