import { createHash, randomBytes } from "node:crypto";
import { connect } from "node:net";
import {
  addFirstPartyCaveats,
  decodeMacaroon,
  formatAuthorization,
  mintToken,
  preimageCaveat,
  servicesCaveat,
  validUntilCaveat,
} from "@l402-gateway/l402";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CreatedInvoice, InvoiceBackend } from "../../gateway/src/lightning/invoices.js";
import { type RunningGateway, startGateway } from "../../gateway/src/server.js";
import { offlineGatewayConfig } from "../../gateway/src/test-support/offline-config.js";
import { Authenticator } from "../../gateway/src/tokens/authenticator.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";

/** Invoices whose preimages the test knows, so tokens can be "paid" without a node; verification is unchanged. */
class KnownPreimages implements InvoiceBackend {
  readonly preimages = new Map<string, Buffer>();
  async createInvoice(args: { expirySeconds: number }): Promise<CreatedInvoice> {
    const preimage = randomBytes(32);
    const paymentHash = createHash("sha256").update(preimage).digest("hex");
    this.preimages.set(paymentHash, preimage);
    return { paymentHash, request: "lnbcrt1adversarial", expiresAt: new Date(Date.now() + args.expirySeconds * 1000) };
  }
  async lookupSettlement() {
    return undefined;
  }
  subscribeSettlements() {
    return () => {};
  }
  async ping() {}
}

interface Token {
  readonly macaroon: string;
  readonly preimage: Buffer;
}

describe("adversarial tokens: each refused with its reason", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  const invoices = new KnownPreimages();
  let token: Token;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startGateway(
      offlineGatewayConfig({
        limits: { challengeBurst: 1_000, challengesPerMinute: 1_000 },
        services: [
          {
            name: "llm",
            match: { pathPrefix: "/v1/" },
            upstream: upstream.url,
            price: { sats: 1 },
            capabilities: ["chat", "completions"],
            capabilityRules: [{ pathPrefix: "/v1/completions", capability: "completions" }],
          },
          { name: "weather", match: { pathPrefix: "/weather/" }, upstream: upstream.url, price: { sats: 1 } },
        ],
      }),
      { backend: invoices, log: pino({ level: "silent" }) },
    );
    token = await buy();
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  async function buy(path = "/v1/echo"): Promise<Token> {
    const res = await fetch(`${gateway.url}${path}`);
    const body = (await res.json()) as { macaroon: string; payment_hash: string };
    const preimage = invoices.preimages.get(body.payment_hash);
    if (!preimage) throw new Error("unknown invoice");
    return { macaroon: body.macaroon, preimage };
  }

  async function answer(
    authorization: string | string[],
    path = "/v1/echo",
  ): Promise<{ status: number; code?: string }> {
    const headers = new Headers();
    for (const value of [authorization].flat()) headers.append("authorization", value);
    const res = await fetch(`${gateway.url}${path}`, { headers });
    const body = res.headers.get("content-type")?.includes("json") ? ((await res.json()) as { code?: string }) : {};
    return { status: res.status, code: res.status === 200 ? undefined : body.code };
  }

  const auth = (token: Token, overrides: Partial<Token> = {}) =>
    formatAuthorization({
      macaroons: [overrides.macaroon ?? token.macaroon],
      preimage: overrides.preimage ?? token.preimage,
    });

  it("accepts several comma-separated macaroons before the preimage (the spec's form), reading the first", async () => {
    expect((await answer(`L402 ${token.macaroon},${token.macaroon}:${token.preimage.toString("hex")}`)).status).toBe(
      200,
    );
    const stranger = await buy("/v1/echo");
    const strangerFirst = `L402 ${stranger.macaroon},${token.macaroon}:${token.preimage.toString("hex")}`;
    expect(await answer(strangerFirst)).toEqual({ status: 402, code: "wrong_preimage" });
  });

  it("accepts the genuine token, under either scheme and in any case", async () => {
    expect((await answer(auth(token))).status).toBe(200);
    const [, rest] = auth(token).split(" ");
    for (const scheme of ["LSAT", "l402", "lsat", "L402"]) expect((await answer(`${scheme} ${rest}`)).status).toBe(200);
  });

  it.each([
    [
      "a forged signature",
      (t: Token) => {
        const bytes = Buffer.from(t.macaroon, "base64");
        // Binary V2 ends with the 32-byte signature field.
        randomBytes(32).copy(bytes, bytes.length - 32);
        return auth(t, { macaroon: bytes.toString("base64") });
      },
      "bad_signature",
    ],
    ["another token's preimage", (t: Token) => auth(t, { preimage: randomBytes(32) }), "wrong_preimage"],
    [
      "a preimage of the wrong length",
      (t: Token) => `L402 ${t.macaroon}:${t.preimage.toString("hex").slice(2)}`,
      "malformed",
    ],
    [
      "a widening services caveat appended",
      (t: Token) => auth(t, { macaroon: addFirstPartyCaveats(t.macaroon, ["services=llm:0,weather:0"]) }),
      "widened_caveat",
    ],
    [
      "a widening capabilities caveat appended",
      (t: Token) =>
        auth(t, { macaroon: addFirstPartyCaveats(t.macaroon, ["llm_capabilities=chat,completions,admin"]) }),
      "widened_caveat",
    ],
    [
      "a later valid_until appended",
      (t: Token) =>
        auth(t, {
          macaroon: addFirstPartyCaveats(t.macaroon, [`llm_valid_until=${Math.floor(Date.now() / 1000) + 10 ** 8}`]),
        }),
      "widened_caveat",
    ],
    [
      "an unknown caveat appended",
      (t: Token) => auth(t, { macaroon: addFirstPartyCaveats(t.macaroon, ["ip_addr=10.0.0.1"]) }),
      "unknown_caveat",
    ],
    [
      "a caveat removed",
      (t: Token) => {
        // Cut the valid_until caveat field ([type 2][length][text][end 0]) and keep the signature: the HMAC chain no
        // longer matches.
        const bytes = Buffer.from(t.macaroon, "base64");
        const at = bytes.indexOf(Buffer.from("llm_valid_until="));
        const length = bytes[at - 1] ?? 0;
        const stripped = Buffer.concat([bytes.subarray(0, at - 2), bytes.subarray(at + length + 1)]);
        return auth(t, { macaroon: stripped.toString("base64") });
      },
      "bad_signature",
    ],
    [
      "a truncated macaroon",
      (t: Token) => auth(t, { macaroon: Buffer.from(t.macaroon, "base64").subarray(0, 40).toString("base64") }),
      "malformed",
    ],
    [
      "an oversized macaroon",
      (t: Token) => `L402 ${Buffer.alloc(6_000, 7).toString("base64")}:${t.preimage.toString("hex")}`,
      "malformed",
    ],
    ["a macaroon that is not base64", (t: Token) => `L402 !!not-base64!!:${t.preimage.toString("hex")}`, "malformed"],
    ["an empty macaroon", (t: Token) => `L402 :${t.preimage.toString("hex")}`, "malformed"],
    ["a preimage that is not hex", (t: Token) => `L402 ${t.macaroon}:${"g".repeat(64)}`, "malformed"],
    ["no credential at all", () => "Bearer sk-test", "missing"],
  ] as [string, (t: Token) => string, string][])("refuses %s", async (_what, build, code) => {
    const result = await answer(build(token));
    expect(result).toEqual({ status: 402, code });
  });

  it("refuses a token minted elsewhere (unknown root key)", async () => {
    const preimage = randomBytes(32);
    const foreign = mintToken({
      paymentHash: createHash("sha256").update(preimage).digest(),
      caveats: [servicesCaveat([{ name: "llm", tier: 0 }])],
    });
    expect(await answer(auth({ macaroon: foreign.macaroonBase64, preimage }))).toEqual({
      status: 402,
      code: "bad_signature",
    });
  });

  it("refuses an identifier of an unknown version", async () => {
    const bytes = Buffer.from(token.macaroon, "base64");
    const at = bytes.indexOf(decodeMacaroon(token.macaroon).identifierBytes);
    bytes.writeUInt16BE(7, at);
    expect(await answer(auth(token, { macaroon: bytes.toString("base64") }))).toEqual({
      status: 402,
      code: "unsupported_version",
    });
  });

  it("refuses a token for another service, and a capability it lacks", async () => {
    expect(await answer(auth(token), "/weather/paris")).toEqual({ status: 402, code: "wrong_service" });
    const chatOnly = addFirstPartyCaveats(token.macaroon, ["llm_capabilities=chat"]);
    expect(await answer(auth(token, { macaroon: chatOnly }), "/v1/completions")).toEqual({
      status: 402,
      code: "missing_capability",
    });
  });

  it("refuses an expired token", async () => {
    const expired = addFirstPartyCaveats(token.macaroon, [`llm_valid_until=${Math.floor(Date.now() / 1000) - 1}`]);
    expect(await answer(auth(token, { macaroon: expired }))).toEqual({ status: 402, code: "expired" });
  });

  it("refuses a credential it verified before once its token expires, without verifying it again", async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const shortLived = auth(token, {
      macaroon: addFirstPartyCaveats(token.macaroon, [`llm_valid_until=${expiresAt}`]),
    });
    expect((await answer(shortLived)).status).toBe(200);
    const authenticator = new Authenticator(gateway.store);
    const headers = { authorization: [shortLived] };
    expect(await authenticator.authenticate(headers, "llm", [])).toMatchObject({ ok: true, cached: false });
    expect(await authenticator.authenticate(headers, "llm", [])).toMatchObject({ ok: true, cached: true });
    // The clock, not the machine's speed, decides: wait until the expiry second has passed.
    while (Date.now() <= expiresAt * 1000) await new Promise((done) => setTimeout(done, 100));
    expect(await answer(shortLived)).toEqual({ status: 402, code: "expired" });
    expect(await authenticator.authenticate(headers, "llm", [])).toMatchObject({ ok: false, code: "expired" });
  });

  it("remembers a verification only for the service and capabilities it was made for", async () => {
    const authenticator = new Authenticator(gateway.store);
    const headers = { authorization: [auth(token)] };
    expect(await authenticator.authenticate(headers, "llm", [])).toMatchObject({ ok: true });
    expect(await authenticator.authenticate(headers, "weather", [])).toMatchObject({
      ok: false,
      code: "wrong_service",
    });
    const narrowed = {
      authorization: [auth(token, { macaroon: addFirstPartyCaveats(token.macaroon, ["llm_capabilities=chat"]) })],
    };
    expect(await authenticator.authenticate(narrowed, "llm", ["chat"])).toMatchObject({ ok: true });
    expect(await authenticator.authenticate(narrowed, "llm", ["completions"])).toMatchObject({ ok: false });
  });

  it("refuses duplicate Authorization headers carrying different credentials", async () => {
    const other = await buy();
    expect(await answer([auth(token), auth(other)])).toEqual({ status: 402, code: "malformed" });
  });

  it("refuses header smuggling with a bare CR inside the credential at the HTTP parser, as JSON", async () => {
    const { port } = new URL(gateway.url);
    const raw = await new Promise<string>((resolvePromise, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () => {
        socket.write(
          `GET /v1/echo HTTP/1.1\r\nHost: x\r\nAuthorization: L402 ${token.macaroon}\rX-Injected: 1:00\r\n\r\n`,
        );
      });
      let data = "";
      socket.on("data", (chunk) => {
        data += chunk.toString();
      });
      socket.on("end", () => resolvePromise(data));
      socket.on("error", reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toContain('{"code":"bad_request"');
  });

  it("grants no capability that a holder appended to a token minted before the service had capabilities", async () => {
    // A token as this gateway minted them for llm before it had capabilities: services, then valid_until.
    const preimage = randomBytes(32);
    const paymentHash = createHash("sha256").update(preimage).digest();
    const validUntil = new Date(Date.now() + 3_600_000);
    const old = mintToken({
      paymentHash,
      caveats: [servicesCaveat([{ name: "llm", tier: 0 }]), validUntilCaveat("llm", validUntil)],
    });
    await gateway.store.insertToken({
      tokenId: old.identifier.tokenId.toString("hex"),
      rootKeyId: old.rootKeyId.toString("hex"),
      rootKey: old.rootKey,
      paymentHash: paymentHash.toString("hex"),
      service: "llm",
      priceSats: 1,
      invoice: "lnbcrt1old",
      createdAt: new Date(),
      invoiceExpiresAt: validUntil,
      validUntil,
      metered: false,
    });
    const oldToken = { macaroon: old.macaroonBase64, preimage };
    expect((await answer(auth(oldToken))).status).toBe(200);
    expect(await answer(auth(oldToken), "/v1/completions")).toEqual({ status: 402, code: "missing_capability" });
    const selfGranted = addFirstPartyCaveats(old.macaroonBase64, ["llm_capabilities=chat,completions"]);
    expect(await answer(auth(oldToken, { macaroon: selfGranted }), "/v1/completions")).toEqual({
      status: 402,
      code: "missing_capability",
    });
    // A token minted with the capability keeps it.
    expect((await answer(auth(token), "/v1/completions")).status).toBe(200);
  });

  it("serves lnget's paid macaroon (preimage caveat, LSAT then L402) and refuses a preimage caveat that differs", async () => {
    const paid = addFirstPartyCaveats(token.macaroon, [preimageCaveat(token.preimage)]);
    for (const scheme of ["LSAT", "L402"] as const) {
      const value = formatAuthorization({ macaroons: [paid], preimage: token.preimage, scheme });
      expect((await answer(value)).status).toBe(200);
    }
    const otherPreimage = addFirstPartyCaveats(token.macaroon, [preimageCaveat(randomBytes(32))]);
    expect(await answer(auth(token, { macaroon: otherPreimage }))).toEqual({ status: 402, code: "wrong_preimage" });
  });

  it("serves the macaroon in every base64 form a client may send: standard or URL-safe, padded or not", async () => {
    const paid = decodeMacaroon(token.macaroon)
      .withCaveats([preimageCaveat(token.preimage)])
      .toBytes();
    const forms = [
      paid.toString("base64"),
      paid.toString("base64").replace(/=+$/, ""),
      paid.toString("base64url"),
      `${paid.toString("base64url")}${"=".repeat((4 - (paid.toString("base64url").length % 4)) % 4)}`,
    ];
    for (const macaroon of forms) expect((await answer(auth(token, { macaroon }))).status).toBe(200);
  });

  it("authenticates Aperture's hex macaroon headers, whose preimage is a caveat, and reports the presented caveats", async () => {
    const authenticator = new Authenticator(gateway.store);
    const paid = decodeMacaroon(token.macaroon).withCaveats([preimageCaveat(token.preimage)]);
    for (const name of ["grpc-metadata-token", "token", "grpc-metadata-macaroon", "macaroon"] as const) {
      const headers = { authorization: [], macaroonHeaders: { [name]: [paid.toBytes().toString("hex")] } };
      const result = await authenticator.authenticate(headers, "llm", ["completions"]);
      expect(result).toMatchObject({ ok: true, caveats: paid.caveats });
    }
    const unpaid = {
      authorization: [],
      macaroonHeaders: { macaroon: [Buffer.from(token.macaroon, "base64").toString("hex")] },
    };
    expect(await authenticator.authenticate(unpaid, "llm", [])).toMatchObject({ ok: false, code: "malformed" });
  });

  it("refuses a replay after revocation, at once", async () => {
    const victim = await buy();
    expect((await answer(auth(victim))).status).toBe(200);
    const [record] = await gateway.store.listTokens({ status: "paid", limit: 1 });
    expect(record).toBeDefined();
    await gateway.store.revoke(record?.tokenId ?? "", new Date());
    expect(await answer(auth(victim))).toEqual({ status: 402, code: "revoked" });
  });
});
