import { describe, expect, it } from "vitest";
import { L402ClientError } from "./errors.js";
import { sendFollowing } from "./redirects.js";
import { ReplayableRequest } from "./request-body.js";

interface Sent {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | null;
  readonly body: string;
}

/** A fetch that answers from a table of URL → response and records what reached it. */
function scripted(routes: Record<string, () => Response>): {
  send: (request: Request) => Promise<Response>;
  sent: Sent[];
} {
  const sent: Sent[] = [];
  return {
    sent,
    send: async (request) => {
      expect(request.redirect).toBe("manual");
      sent.push({
        method: request.method,
        url: request.url,
        authorization: request.headers.get("authorization"),
        body: await request.text(),
      });
      const route = routes[request.url];
      return route ? route() : new Response("not found", { status: 404 });
    },
  };
}

const moved = (status: number, location: string) => () => new Response(null, { status, headers: { location } });
const timeouts = { headersMs: 60_000, idleMs: 60_000 };

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.catch((reason: unknown) => reason);
  if (!(error instanceof L402ClientError)) throw new Error(`expected an L402ClientError, got ${String(error)}`);
  return error.code;
}

describe("sendFollowing", () => {
  it("sends nothing to a plain-HTTP origin on the network, unless allowed; loopback HTTP is fine", async () => {
    const fake = scripted({ "http://192.0.2.1/v1/x": () => new Response("ok") });
    const request = await ReplayableRequest.from("http://192.0.2.1/v1/x");
    expect(await refusal(sendFollowing(request, undefined, { send: fake.send, timeouts, allowInsecure: false }))).toBe(
      "insecure_origin",
    );
    expect(fake.sent).toEqual([]);
    const allowed = await sendFollowing(request, "L402 m:p", { send: fake.send, timeouts, allowInsecure: true });
    expect(await allowed.text()).toBe("ok");
    for (const url of ["http://127.0.0.1:8080/", "http://localhost/", "http://[::1]:9/", "https://192.0.2.1/"]) {
      const local = scripted({ [url]: () => new Response("here") });
      const response = await sendFollowing(await ReplayableRequest.from(url), "L402 m:p", {
        send: local.send,
        timeouts,
        allowInsecure: false,
      });
      expect(await response.text()).toBe("here");
    }
  });

  it("follows a redirect within the origin with the credential, and refuses one to another origin or down to http", async () => {
    const fake = scripted({
      "https://gw.example/a": moved(308, "/b"),
      "https://gw.example/b": () => new Response("b"),
      "https://gw.example/away": moved(307, "https://collector.example/steal"),
      "https://gw.example/down": moved(301, "http://gw.example/b"),
    });
    const options = { send: fake.send, timeouts, allowInsecure: false };
    const post = { method: "POST", body: "prompt" };
    const followed = await sendFollowing(
      await ReplayableRequest.from("https://gw.example/a", post),
      "L402 m:p",
      options,
    );
    expect(await followed.text()).toBe("b");
    expect(followed).toMatchObject({ redirected: true, url: "https://gw.example/b" });
    expect(fake.sent.map((s) => [s.method, s.url, s.authorization, s.body])).toEqual([
      ["POST", "https://gw.example/a", "L402 m:p", "prompt"],
      ["POST", "https://gw.example/b", "L402 m:p", "prompt"],
    ]);
    for (const path of ["/away", "/down"]) {
      const request = await ReplayableRequest.from(`https://gw.example${path}`, post);
      expect(await refusal(sendFollowing(request, "L402 m:p", options))).toBe("redirect_refused");
    }
    expect(fake.sent.map((s) => s.url).filter((url) => !url.startsWith("https://gw.example/"))).toEqual([]);
  });

  it("without a credential follows to another origin as fetch does, but never down to plain HTTP on the network", async () => {
    const fake = scripted({
      "https://gw.example/see-other": moved(303, "https://other.example/result"),
      "https://other.example/result": () => new Response("result"),
      "https://gw.example/down": moved(302, "http://192.0.2.1/x"),
    });
    const options = { send: fake.send, timeouts, allowInsecure: false };
    const request = await ReplayableRequest.from("https://gw.example/see-other", {
      method: "POST",
      body: "prompt",
      headers: { cookie: "session=1", "content-type": "text/plain" },
    });
    expect(await (await sendFollowing(request, undefined, options)).text()).toBe("result");
    expect(fake.sent.at(-1)).toEqual({
      method: "GET",
      url: "https://other.example/result",
      authorization: null,
      body: "",
    });
    const down = await ReplayableRequest.from("https://gw.example/down");
    expect(await refusal(sendFollowing(down, undefined, options))).toBe("insecure_origin");
    expect(fake.sent.map((s) => s.url)).not.toContain("http://192.0.2.1/x");
  });

  it("stops a redirect loop", async () => {
    const fake = scripted({ "https://gw.example/loop": moved(302, "/loop") });
    const request = await ReplayableRequest.from("https://gw.example/loop");
    expect(await refusal(sendFollowing(request, undefined, { send: fake.send, timeouts, allowInsecure: false }))).toBe(
      "redirect_refused",
    );
    expect(fake.sent).toHaveLength(21);
  });
});
