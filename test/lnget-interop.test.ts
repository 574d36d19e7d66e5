import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningGateway } from "@l402-gateway/gateway";
import {
  addFirstPartyCaveats,
  decodeMacaroon,
  formatAuthorization,
  parseChallenge,
  preimageCaveat,
  validUntilCaveat,
} from "@l402-gateway/l402";
import { type AuthenticatedLnd, getPayments, pay } from "lightning";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { lndClient } from "./regtest/network-file.js";
import { checkAccounting } from "./support/accounting.js";
import { startRegtestGateway } from "./support/regtest-gateway.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const network = testNetwork();
const alice = lndClient(network.nodes.alice);
const bob = lndClient(network.nodes.bob);
const PER_CALL_MSAT = 2_000;

/** Payments bob's node has made, all pages. */
async function paymentCount(lnd: AuthenticatedLnd): Promise<number> {
  let count = 0;
  let page = await getPayments({ lnd, limit: 100 });
  count += page.payments.length;
  while (page.next) {
    page = await getPayments({ lnd, token: page.next });
    count += page.payments.length;
  }
  return count;
}

interface HeldToken {
  /** The paid macaroon as Aperture's `Token.PaidMacaroon()` makes it: the challenge's, plus `preimage=<hex>`. */
  readonly paidMacaroon: string;
  readonly preimage: Buffer;
  uses: number;
}

/**
 * A client with lnget v1.1.0's wire behaviour (see field-notes.md): it sends the unpaid request twice before paying
 * and pays the second invoice; it presents the paid macaroon with a `preimage=` caveat appended, `LSAT` on the first
 * paid try and `L402` for the cached token; on a 402 for a token it holds, it drops the token and buys a new one (it
 * never pays a top-up challenge). One token per origin, as lnget caches per domain.
 */
class LngetLike {
  #token: HeldToken | undefined;
  purchases = 0;

  constructor(
    private readonly origin: string,
    private readonly lnd: AuthenticatedLnd,
  ) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const held = this.#token;
    if (held) {
      const res = await this.#send(path, init, held);
      if (res.status !== 402) return res;
      await res.body?.cancel();
      this.#token = undefined;
    }
    const first = await fetch(`${this.origin}${path}`, init);
    expect(first.status).toBe(402);
    await first.body?.cancel();
    const second = await fetch(`${this.origin}${path}`, init);
    expect(second.status).toBe(402);
    await second.body?.cancel();
    const challenge = parseChallenge(second.headers.get("www-authenticate") ?? "");
    const payment = await pay({ lnd: this.lnd, request: challenge.invoice });
    this.purchases += 1;
    const preimage = Buffer.from(payment.secret, "hex");
    const token = {
      paidMacaroon: addFirstPartyCaveats(challenge.macaroon, [preimageCaveat(preimage)]),
      preimage,
      uses: 0,
    };
    this.#token = token;
    return this.#send(path, init, token);
  }

  #send(path: string, init: RequestInit, token: HeldToken): Promise<Response> {
    const scheme = token.uses === 0 ? "LSAT" : "L402";
    token.uses += 1;
    const headers = new Headers(init.headers);
    headers.set("authorization", `${scheme} ${token.paidMacaroon}:${token.preimage.toString("hex")}`);
    return fetch(`${this.origin}${path}`, { ...init, headers });
  }
}

interface ChallengeBody {
  readonly code: string;
  readonly macaroon: string;
  readonly invoice: string;
  readonly token_id: string;
}

interface Credential {
  readonly macaroon: string;
  readonly preimage: Buffer;
}

const authorization = (credential: Credential) => ({
  authorization: formatAuthorization({ macaroons: [credential.macaroon], preimage: credential.preimage }),
});

describe("paying like lnget, and top-ups that never widen (regtest)", () => {
  let fixedUpstream: TestUpstream;
  let meteredUpstream: TestUpstream;
  let gateway: RunningGateway;
  const storePath = join(mkdtempSync(join(tmpdir(), "gw-lnget-")), "gateway.sqlite");

  beforeAll(async () => {
    fixedUpstream = await startUpstream();
    meteredUpstream = await startUpstream();
    gateway = await startRegtestGateway({
      storePath,
      limits: { challengeBurst: 1_000, challengesPerMinute: 1_000 },
      services: [
        { name: "weather", match: { pathPrefix: "/weather/" }, upstream: fixedUpstream.url, price: { sats: 5 } },
        {
          name: "echo",
          match: { pathPrefix: "/v1/echo" },
          upstream: meteredUpstream.url,
          pricing: { rules: [{ perCallMsat: PER_CALL_MSAT }] },
        },
        {
          name: "docs",
          match: { pathPrefix: "/docs/" },
          upstream: meteredUpstream.url,
          capabilities: ["read", "write"],
          capabilityRules: [
            { pathPrefix: "/docs/read", capability: "read" },
            { pathPrefix: "/docs/write", capability: "write" },
          ],
          pricing: { rules: [{ perCallMsat: PER_CALL_MSAT }] },
        },
      ],
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await fixedUpstream?.close();
    await meteredUpstream?.close();
  });

  it("serves every paid call of a fixed-price service, one payment for the purchase", async () => {
    const client = new LngetLike(gateway.url, bob);
    const before = await paymentCount(bob);
    for (let i = 0; i < 3; i++) {
      const res = await client.fetch(`/weather/today?call=${i}`);
      expect(res.status).toBe(200);
      await res.text();
    }
    expect(client.purchases).toBe(1);
    expect((await paymentCount(bob)) - before).toBe(1);
    // The first paid try was LSAT, the later ones L402, each with the preimage caveat; no credential went upstream.
    expect(fixedUpstream.seen).toHaveLength(3);
    for (const seen of fixedUpstream.seen) expect(seen.headers.authorization).toBeUndefined();
  });

  it("serves every paid call of a metered service, buying a fresh token when one runs short", async () => {
    const client = new LngetLike(gateway.url, bob);
    const before = await paymentCount(bob);
    const served = meteredUpstream.seen.length;
    for (let i = 0; i < 3; i++) {
      const res = await client.fetch("/v1/echo", { method: "POST", body: `call ${i}` });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-l402-cost-msat")).toBe(String(PER_CALL_MSAT));
      await res.text();
    }
    // A token prepays one call: each call after the first found its token short (402), and lnget bought a new one.
    expect(client.purchases).toBe(3);
    expect((await paymentCount(bob)) - before).toBe(3);
    expect(meteredUpstream.seen.length - served).toBe(3);
  });

  // Needs app.ts to authenticate with credentialHeaders(req) (gateway/src/tokens/credential-headers.ts) instead of the
  // Authorization values alone; enable it with that change.
  it("serves Aperture's other credential form: a hex macaroon with a preimage caveat in a macaroon header", async () => {
    const before = await paymentCount(bob);
    const unpaid = await fetch(`${gateway.url}/weather/today`);
    expect(unpaid.status).toBe(402);
    const challenged = parseChallenge(unpaid.headers.get("www-authenticate") ?? "");
    const preimage = Buffer.from((await pay({ lnd: bob, request: challenged.invoice })).secret, "hex");
    const paid = decodeMacaroon(challenged.macaroon).withCaveats([preimageCaveat(preimage)]);
    for (const name of ["Grpc-Metadata-Macaroon", "Macaroon", "Grpc-Metadata-Token", "Token"]) {
      const res = await fetch(`${gateway.url}/weather/today`, { headers: { [name]: paid.toBytes().toString("hex") } });
      expect(res.status).toBe(200);
      const seen = JSON.parse(await res.text()) as { headers: Record<string, string> };
      // The credential, preimage included, does not go upstream.
      expect(seen.headers[name.toLowerCase()]).toBeUndefined();
    }
    expect((await paymentCount(bob)) - before).toBe(1);
  });

  async function challenge(path: string, headers: Record<string, string> = {}): Promise<ChallengeBody> {
    const res = await fetch(`${gateway.url}${path}`, { method: "POST", headers });
    expect(res.status).toBe(402);
    return (await res.json()) as ChallengeBody;
  }

  async function call(path: string, credential: Credential, headers: Record<string, string> = {}) {
    const res = await fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { ...authorization(credential), ...headers },
    });
    const body = await res.text();
    return {
      status: res.status,
      code: res.status === 402 ? (JSON.parse(body) as ChallengeBody).code : undefined,
      body,
    };
  }

  it("re-issues a narrowed credential's top-up with every one of its caveats: refused where the narrowed one was", async () => {
    const bought = await challenge("/docs/read", { "x-l402-deposit-msat": String(2 * PER_CALL_MSAT) });
    const full: Credential = {
      macaroon: bought.macaroon,
      preimage: Buffer.from((await pay({ lnd: bob, request: bought.invoice })).secret, "hex"),
    };
    // The holder lends a narrowed credential: read only, for an hour instead of the token's day.
    const inAnHour = Math.floor(Date.now() / 1000) + 3_600;
    const narrowedCaveats = ["docs_capabilities=read", validUntilCaveat("docs", inAnHour)];
    const narrowed: Credential = { ...full, macaroon: addFirstPartyCaveats(full.macaroon, narrowedCaveats) };
    expect(await call("/docs/write", narrowed)).toMatchObject({ status: 402, code: "missing_capability" });
    for (let i = 0; i < 2; i++) expect((await call("/docs/read", narrowed)).status).toBe(200);

    // Spent. The delegate presents its credential the way lnget does (preimage caveat) and gets a top-up challenge.
    const presented: Credential = {
      ...narrowed,
      macaroon: addFirstPartyCaveats(narrowed.macaroon, [preimageCaveat(narrowed.preimage)]),
    };
    const short = await call("/docs/read", presented, { "x-l402-deposit-msat": String(2 * PER_CALL_MSAT) });
    expect(short).toMatchObject({ status: 402, code: "insufficient_balance" });
    const topUp = JSON.parse(short.body) as ChallengeBody;
    expect(topUp.token_id).toBe(bought.token_id);

    const topped: Credential = {
      macaroon: topUp.macaroon,
      preimage: Buffer.from((await pay({ lnd: bob, request: topUp.invoice })).secret, "hex"),
    };
    expect(await call("/docs/write", topped)).toMatchObject({ status: 402, code: "missing_capability" });
    expect((await call("/docs/read", topped)).status).toBe(200);
    // Every caveat of the narrowed credential, in order; the old preimage caveat is left behind.
    expect(decodeMacaroon(topUp.macaroon).caveats).toEqual(decodeMacaroon(narrowed.macaroon).caveats);
    // One account: the holder's full credential draws on the balance the delegate's top-up paid for.
    expect((await call("/docs/write", full)).status).toBe(200);
    const balances = await Promise.all(
      [full, narrowed, topped].map(async (credential) => {
        const res = await fetch(`${gateway.url}/l402/balance`, { headers: authorization(credential) });
        expect(res.status).toBe(200);
        return res.json();
      }),
    );
    for (const balance of balances) {
      expect(balance).toMatchObject({
        token_id: bought.token_id,
        credited_msat: 4 * PER_CALL_MSAT,
        charged_msat: 4 * PER_CALL_MSAT,
        balance_msat: 0,
        requests: 4,
      });
    }
  });

  it("keeps the accounting invariant", async () => {
    const verdict = await checkAccounting({
      storePath,
      lnd: alice,
      upstreamServed: meteredUpstream.seen.length,
      quiescent: true,
    });
    expect(verdict.violations).toEqual([]);
  });
});
