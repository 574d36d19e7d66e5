import { createHash, randomBytes } from "node:crypto";
import {
  capabilitiesCaveat,
  DecodedMacaroon,
  decodeMacaroon,
  formatAuthorization,
  MacaroonKey,
  mintToken,
  rootKeyId,
  servicesCaveat,
  validUntilCaveat,
} from "@l402-gateway/l402";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { KnownPreimageInvoices } from "../../../test/support/known-preimage-invoices.js";
import type { ServiceConfig } from "../config/schema.js";
import type { Pricer } from "../pricing/pricer.js";
import { fixedQuote } from "../pricing/quote.js";
import { SqliteTokenStore } from "../store/sqlite.js";
import { offlineGatewayConfig } from "../test-support/offline-config.js";
import { Authenticator } from "./authenticator.js";
import { Challenger } from "./challenger.js";
import { MacaroonKeys } from "./macaroon-keys.js";

const hex = (bytes: Buffer) => bytes.toString("hex");

describe("derived macaroon keys", () => {
  it("serves a kept key only for the root key it was derived from", () => {
    const keys = new MacaroonKeys();
    const [a, b] = [randomBytes(32), randomBytes(32)];
    expect(keys.keyFor("id", a).bytes).toEqual(MacaroonKey.derive(a).bytes);
    expect(keys.keyFor("id", a)).toBe(keys.keyFor("id", a));
    expect(keys.keyFor("id", b).bytes).toEqual(MacaroonKey.derive(b).bytes);
  });

  it("stays within its bound, and keeps nothing when the bound is 0", () => {
    const keys = new MacaroonKeys(2);
    for (const id of ["a", "b", "c"]) keys.keyFor(id, randomBytes(32));
    expect(keys.size).toBe(2);
    const none = new MacaroonKeys(0);
    none.keyFor("a", randomBytes(32));
    expect(none.size).toBe(0);
  });
});

describe("authenticator with kept macaroon keys", () => {
  let store: SqliteTokenStore;
  beforeEach(() => {
    store = new SqliteTokenStore(":memory:");
  });
  afterEach(async () => store.close());

  /** A paid token in the store, its credential, and a MacaroonKeys primed with its key as the challenger does. */
  async function paidToken(validUntilSeconds = Math.floor(Date.now() / 1000) + 3600) {
    const preimage = randomBytes(32);
    const paymentHash = createHash("sha256").update(preimage).digest();
    const minted = mintToken({
      paymentHash,
      caveats: [
        servicesCaveat([{ name: "llm", tier: 0 }]),
        capabilitiesCaveat("llm", ["chat"]),
        validUntilCaveat("llm", validUntilSeconds),
      ],
    });
    const now = new Date();
    await store.insertToken({
      tokenId: hex(minted.identifier.tokenId),
      rootKeyId: hex(minted.rootKeyId),
      rootKey: minted.rootKey,
      paymentHash: hex(paymentHash),
      service: "llm",
      priceSats: 1,
      invoice: "lnbcrt1test",
      createdAt: now,
      invoiceExpiresAt: new Date(now.getTime() + 600_000),
      validUntil: new Date(validUntilSeconds * 1000),
    });
    await store.markPaid(hex(paymentHash), now);
    const keys = new MacaroonKeys();
    keys.remember(hex(minted.rootKeyId), minted.rootKey, minted.macaroonKey);
    const headers = (macaroon = minted.macaroonBase64) => ({
      authorization: [formatAuthorization({ macaroon, preimage })],
    });
    return { minted, keys, headers };
  }

  const authenticator = (keys: MacaroonKeys, verifiedEntries = 10_000) =>
    new Authenticator(store, () => {}, verifiedEntries, keys);

  it("verifies a token whose key was never kept (minted before keys were kept) and keeps its key", async () => {
    const { headers, minted } = await paidToken();
    const keys = new MacaroonKeys();
    expect(await authenticator(keys).authenticate(headers(), "llm", ["chat"])).toMatchObject({ ok: true });
    expect(keys.size).toBe(1);
    expect(keys.keyFor(hex(minted.rootKeyId), minted.rootKey).bytes).toEqual(minted.macaroonKey.bytes);
  });

  it("refuses a revoked token at once though its key is kept and its credential verified before", async () => {
    const { minted, keys, headers } = await paidToken();
    const gate = authenticator(keys);
    expect(await gate.authenticate(headers(), "llm", ["chat"])).toMatchObject({ ok: true, cached: false });
    expect(await gate.authenticate(headers(), "llm", ["chat"])).toMatchObject({ ok: true, cached: true });
    await store.revoke(hex(minted.identifier.tokenId), new Date());
    expect(await gate.authenticate(headers(), "llm", ["chat"])).toMatchObject({ ok: false, code: "revoked" });
    // Not verified before either: the store's word comes before any key.
    expect(await authenticator(keys, 0).authenticate(headers(), "llm", [])).toMatchObject({
      ok: false,
      code: "revoked",
    });
  });

  it("refuses an expired token though its key is kept", async () => {
    const { keys, headers } = await paidToken(Math.floor(Date.now() / 1000) - 1);
    expect(await authenticator(keys, 0).authenticate(headers(), "llm", ["chat"])).toMatchObject({
      ok: false,
      code: "expired",
    });
  });

  it("refuses a tampered caveat though its key is kept", async () => {
    const { minted, keys, headers } = await paidToken();
    const tampered = Buffer.from(minted.macaroon);
    const at = tampered.indexOf("llm:0");
    tampered.write("llm:1", at);
    // Still a well-formed macaroon: only the signature gives the change away.
    expect(DecodedMacaroon.fromBytes(tampered).caveats[0]).toBe("services=llm:1");
    expect(decodeMacaroon(tampered.toString("base64")).signature).toEqual(minted.macaroon.subarray(-32));
    expect(await authenticator(keys, 0).authenticate(headers(tampered.toString("base64")), "llm", [])).toMatchObject({
      ok: false,
      code: "bad_signature",
    });
  });
});

describe("challenger with kept macaroon keys", () => {
  it("keeps each new token's derived key at mint, so the token's first request derives none", async () => {
    const store = new SqliteTokenStore(":memory:");
    const keys = new MacaroonKeys();
    const config = offlineGatewayConfig({
      services: [{ name: "llm", match: { pathPrefix: "/" }, upstream: "http://127.0.0.1:1", price: { sats: 21 } }],
    });
    const pricer: Pricer = { quote: async () => fixedQuote(21) };
    const challenger = new Challenger(new KnownPreimageInvoices(), store, pricer, "test", keys);
    const service = config.services[0] as ServiceConfig;
    const challenge = await challenger.challenge(
      service,
      { method: "GET", path: "/x" },
      { code: "missing", message: "" },
    );
    expect(keys.size).toBe(1);
    const id = hex(rootKeyId(decodeMacaroon(challenge.body.macaroon).identifierBytes));
    const lookup = await store.lookupRootKey(id);
    if (lookup.found !== "active") throw new Error(`the new token is ${lookup.found}`);
    const derive = vi.spyOn(MacaroonKey, "derive");
    try {
      expect(keys.keyFor(id, lookup.rootKey).bytes).toEqual(MacaroonKey.derive(lookup.rootKey).bytes);
      expect(derive).toHaveBeenCalledTimes(1);
    } finally {
      derive.mockRestore();
      await store.close();
    }
  });
});
