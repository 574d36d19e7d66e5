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

  /** The caller's signal: once aborted, nothing is sent again. */
  get signal(): AbortSignal {
    return this.original.signal;
  }

  get method(): string {
    return this.original.method;
  }

  /** Whether the caller set header `name`. */
  hasHeader(name: string): boolean {
    return this.original.headers.has(name);
  }

  header(name: string): string | null {
    return this.original.headers.get(name);
  }

  /** The same request with header `name` set to `value`. */
  withHeader(name: string, value: string): ReplayableRequest {
    const headers = new Headers(this.original.headers);
    headers.set(name, value);
    const { url, method, signal } = this.original;
    return new ReplayableRequest(new Request(url, { method, headers, signal }), this.body);
  }

  /** The same headers (less any Authorization) and body, sent as `method` to `url`: how a quote asks about it. */
  sentAs(url: URL, method: string): ReplayableRequest {
    const headers = new Headers(this.original.headers);
    headers.delete("authorization");
    return new ReplayableRequest(new Request(url, { method, headers, signal: this.original.signal }), this.body);
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
      // Followed by the client, which checks each hop first (redirects.ts).
      redirect: "manual",
      ...(this.body === null ? {} : { body: new Blob([this.body]) }),
      ...(signal === undefined ? {} : { signal: AbortSignal.any([this.original.signal, signal]) }),
    });
  }

  /**
   * The request a redirect answered with `status` asks for at `location`, as fetch makes it: 303, and 301/302 after
   * a POST, become a GET without a body; credentials and cookies set by the caller do not cross to another origin.
   */
  redirected(status: number, location: URL): ReplayableRequest {
    const { method } = this.original;
    const toGet =
      status === 303 ? method !== "GET" && method !== "HEAD" : (status === 301 || status === 302) && method === "POST";
    const headers = new Headers(this.original.headers);
    if (toGet) for (const name of BODY_HEADERS) headers.delete(name);
    if (location.origin !== this.url.origin) for (const name of CROSS_ORIGIN_DROPPED) headers.delete(name);
    const request = new Request(location, { method: toGet ? "GET" : method, headers, signal: this.original.signal });
    return new ReplayableRequest(request, toGet ? null : this.body);
  }
}

const BODY_HEADERS = ["content-type", "content-length", "content-encoding", "content-language", "content-location"];
const CROSS_ORIGIN_DROPPED = ["authorization", "cookie", "proxy-authorization"];
