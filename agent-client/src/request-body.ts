/** A request that can be sent more than once: its body is read into memory once, before the first attempt. */
export class ReplayableRequest {
  private constructor(
    private readonly original: Request,
    private readonly body: Uint8Array | null,
  ) {}

  /**
   * Accepts what fetch accepts: a URL or string with init (string, Buffer, URLSearchParams, FormData, Blob or stream
   * bodies), or a Request. A one-shot stream is buffered here, since a 402 means sending it again.
   */
  static async from(input: string | URL | Request, init?: RequestInit): Promise<ReplayableRequest> {
    const original = new Request(input, init);
    const body = original.body === null ? null : new Uint8Array(await original.arrayBuffer());
    return new ReplayableRequest(original, body);
  }

  get url(): URL {
    return new URL(this.original.url);
  }

  /**
   * A fresh Request with the same method, headers and body, the given Authorization (or none), aborted by the
   * caller's signal or by `signal`. The body is a Blob: fetch re-reads a Blob when it follows a 307/308, whereas a
   * byte array's buffer is detached by the first send and the redirected request fails.
   */
  build(authorization: string | undefined, signal?: AbortSignal): Request {
    const headers = new Headers(this.original.headers);
    if (authorization === undefined) headers.delete("authorization");
    else headers.set("authorization", authorization);
    return new Request(this.original, {
      headers,
      ...(this.body === null ? {} : { body: new Blob([this.body]) }),
      ...(signal === undefined ? {} : { signal: AbortSignal.any([this.original.signal, signal]) }),
    });
  }
}
