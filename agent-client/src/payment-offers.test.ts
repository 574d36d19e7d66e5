import {
  buildPaymentChallenge,
  formatChallenge,
  formatPaymentChallenge,
  mintToken,
  type PaymentChallenge,
} from "@l402-gateway/l402";
import { describe, expect, it } from "vitest";
import { L402ClientError, type L402ClientErrorCode } from "./errors.js";
import { rankOffers } from "./offer-choice.js";
import { type ChargeOffer, type Offer, readOffers, type SessionOffer } from "./offers.js";
import { validatePaymentOffer } from "./payment-offers.js";
import { Payer } from "./payments.js";
import { MemoryStore } from "./store/memory.js";
import { FakeLightning, FakeWallet } from "./test-support/fakes.js";
import { makeInvoice } from "./test-support/invoices.js";

const SECRET = Buffer.alloc(32, 7);
const NOW = new Date();
const inMinutes = (minutes: number) => new Date(NOW.getTime() + minutes * 60_000);

function charge(amountSats: number, request: Record<string, unknown> = {}, expires = inMinutes(15)) {
  const invoice = makeInvoice({ amountSats });
  return buildPaymentChallenge({
    secret: SECRET,
    realm: "api.test",
    method: "lightning",
    intent: "charge",
    request: {
      amount: String(amountSats),
      currency: "sat",
      methodDetails: { invoice: invoice.invoice, network: "regtest", paymentHash: invoice.paymentHash },
      ...request,
    },
    expires,
  });
}

function session(unitSats: number, depositSats: number): PaymentChallenge {
  const invoice = makeInvoice({ amountSats: depositSats });
  return buildPaymentChallenge({
    secret: SECRET,
    realm: "api.test",
    method: "lightning",
    intent: "session",
    request: {
      amount: String(unitSats),
      currency: "sat",
      depositInvoice: invoice.invoice,
      paymentHash: invoice.paymentHash,
      depositAmount: String(depositSats),
      idleTimeout: "300",
    },
    expires: inMinutes(15),
  });
}

function l402Lines(amountSats: number): [string, string] {
  const invoice = makeInvoice({ amountSats });
  const token = mintToken({ paymentHash: Buffer.from(invoice.paymentHash, "hex"), caveats: [] });
  return formatChallenge({ macaroonBase64: token.macaroonBase64, invoice: invoice.invoice });
}

/** A 402's headers as fetch exposes them: every line appended, read back joined with ", ". */
function headersOf(lines: readonly string[]): Headers {
  const headers = new Headers();
  for (const line of lines) headers.append("www-authenticate", line);
  return headers;
}

function codeOf(run: () => unknown): L402ClientErrorCode | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (error instanceof L402ClientError) return error.code;
    throw error;
  }
}

describe("reading the offers of a 402", () => {
  it("reads Aperture's four lines: L402 (of LSAT and L402), charge and session, in order", () => {
    const lines = [...l402Lines(5), formatPaymentChallenge(charge(5)), formatPaymentChallenge(session(5, 100))];
    const offers = readOffers(headersOf(lines));
    expect(offers.map((offer) => offer.kind)).toEqual(["l402", "charge", "session"]);
    expect(offers[0]).toMatchObject({ challenge: { scheme: "L402" } });
  });

  it("skips a Payment challenge whose request does not decode, and one of another method, keeping the rest", () => {
    const broken = formatPaymentChallenge({ ...charge(5), request: "e30" }); // {} : no amount, no invoice
    const other = formatPaymentChallenge({ ...charge(5), method: "tempo" });
    const good = charge(7);
    const offers = readOffers(headersOf([broken, other, formatPaymentChallenge(good)]));
    expect(offers).toHaveLength(1);
    expect(offers[0]).toMatchObject({ kind: "charge", challenge: { id: good.id, request: good.request } });
  });

  it("reads the other challenges when one line cannot be parsed at all", () => {
    const unterminated = 'Payment id="abc, realm="x';
    const offers = readOffers(headersOf([...l402Lines(5), unterminated, formatPaymentChallenge(charge(5))]));
    expect(offers.map((offer) => offer.kind)).toEqual(["l402", "charge"]);
  });

  it("keeps every value byte for byte, so the echo matches the HMAC the server computed", () => {
    const challenge = charge(5);
    const [offer] = readOffers(headersOf([formatPaymentChallenge(challenge)]));
    expect(offer?.challenge).toEqual(challenge);
  });

  it("returns no offer for other schemes, and refuses a 402 whose only lightning offers are unusable", () => {
    expect(readOffers(headersOf(['Bearer realm="x"', 'Payment id="1", method="tempo"']))).toEqual([]);
    const unusable = formatPaymentChallenge({ ...charge(5), request: "e30" });
    expect(codeOf(() => readOffers(headersOf([unusable])))).toBe("malformed_challenge");
  });
});

describe("checking a Payment offer before paying", () => {
  const validate = (challenge: PaymentChallenge) => () =>
    validatePaymentOffer(offerOf(challenge) as ChargeOffer | SessionOffer, NOW);

  it("accepts an invoice that is exactly what the challenge says", () => {
    const validated = validate(charge(21))();
    expect(validated.invoice.amountSats).toBe(21);
    expect(validate(session(3, 60))().invoice.amountSats).toBe(60);
  });

  it("refuses an amount that is not the invoice's, a foreign hash or network, and an expired challenge", () => {
    const invoice = makeInvoice({ amountSats: 10 });
    const details = (extra: Record<string, string>) => ({
      methodDetails: { invoice: invoice.invoice, network: "regtest", paymentHash: invoice.paymentHash, ...extra },
    });
    expect(codeOf(validate(charge(10, { amount: "9", ...details({}) })))).toBe("amount_mismatch");
    expect(codeOf(validate(charge(10, details({ paymentHash: "ab".repeat(32) }))))).toBe("payment_hash_mismatch");
    expect(codeOf(validate(charge(10, details({ network: "mainnet" }))))).toBe("network_mismatch");
    // No network means mainnet: a regtest invoice does not match.
    expect(codeOf(validate(charge(10, { methodDetails: { invoice: invoice.invoice } })))).toBe("network_mismatch");
    expect(codeOf(validate(charge(10, {}, inMinutes(-1))))).toBe("invoice_expired");
  });

  it("refuses a session deposit whose invoice is not depositAmount", () => {
    const real = session(3, 60);
    const lying = buildPaymentChallenge({
      secret: SECRET,
      realm: "api.test",
      method: "lightning",
      intent: "session",
      request: {
        ...JSON.parse(Buffer.from(real.request, "base64url").toString("utf8")),
        depositAmount: "6",
      },
      expires: inMinutes(15),
    });
    expect(codeOf(validate(lying))).toBe("amount_mismatch");
  });
});

describe("choosing among offers", () => {
  const offers: Offer[] = readOffers(
    headersOf([...l402Lines(50), formatPaymentChallenge(charge(40)), formatPaymentChallenge(session(5, 100))]),
  );
  const kinds = (ranked: Offer[]) => ranked.map((offer) => offer.kind);

  it("by default: the smallest outlay that covers the call", () => {
    expect(kinds(rankOffers(offers, {}, true, NOW))).toEqual(["charge", "l402", "session"]);
    // A 900-sat session deposit beside a 10-sat L402 token: the token.
    const deposit = readOffers(headersOf([formatPaymentChallenge(session(1, 900)), ...l402Lines(10)]));
    expect(kinds(rankOffers(deposit, {}, true, NOW))).toEqual(["l402", "session"]);
    // Equal outlays: the reusable credential first (session, then L402, then charge).
    const even = readOffers(headersOf([formatPaymentChallenge(charge(10)), ...l402Lines(10)]));
    expect(kinds(rankOffers(even, {}, true, NOW))).toEqual(["l402", "charge"]);
    // A deposit below one unit's price pays for nothing: it comes last however small.
    const short = readOffers(headersOf([formatPaymentChallenge(session(20, 5)), ...l402Lines(10)]));
    expect(kinds(rankOffers(short, {}, true, NOW))).toEqual(["l402", "session"]);
  });

  it("for many calls: session, then L402, then charge, whatever they ask up front", () => {
    expect(kinds(rankOffers(offers, { calls: "many" }, true, NOW))).toEqual(["session", "l402", "charge"]);
  });

  it("for one call: the fewest sats up front", () => {
    expect(kinds(rankOffers(offers, { calls: "one" }, true, NOW))).toEqual(["charge", "l402", "session"]);
  });

  it("never a session without a wallet that can make return invoices; an explicit order limits the kinds", () => {
    expect(kinds(rankOffers(offers, { calls: "many" }, false, NOW))).toEqual(["l402", "charge"]);
    expect(kinds(rankOffers(offers, { order: ["charge", "l402"] }, true, NOW))).toEqual(["charge", "l402"]);
  });

  it("pays L402 when that is all there is", () => {
    const only = readOffers(headersOf(l402Lines(50)));
    expect(kinds(rankOffers(only, { calls: "one" }, true, NOW))).toEqual(["l402"]);
  });
});

describe("a session deposit whose outcome was lost", () => {
  it("is stored as a session when the payment is resolved through the wallet: the deposit is not lost", async () => {
    const lightning = new FakeLightning();
    const wallet = new FakeWallet(lightning);
    const store = new MemoryStore();
    const payer = new Payer({
      wallet,
      store,
      policy: { budget: {}, allowRefusedOrigins: new Set(), refusalCoolOffMs: 3_600_000, maxPendingPayments: 4 },
      maxCostSats: 1_000,
      maxFeeSats: 1,
      paymentTimeoutMs: 1_000,
      now: () => new Date(),
      onEvent: () => {},
    });
    const deposit = lightning.issue(60);
    const challenge = buildPaymentChallenge({
      secret: SECRET,
      realm: "api.test",
      method: "lightning",
      intent: "session",
      request: {
        amount: "3",
        currency: "sat",
        depositInvoice: deposit.invoice,
        paymentHash: deposit.paymentHash,
        depositAmount: "60",
      },
      expires: inMinutes(15),
    });
    const validated = validatePaymentOffer(offerOf(challenge) as SessionOffer, new Date());
    const pending = { returnInvoice: "lnbcrt1return", challenge, url: "https://api.test/v1/echo", unitSats: 3 };

    wallet.mode = "crash-after-paying";
    await expect(
      payer.payOffer({ validated, origin: "https://api.test", scheme: "session", session: pending }),
    ).rejects.toMatchObject({
      code: "payment_timeout",
    });
    expect((await store.read()).sessions).toEqual([]);
    expect(await payer.resolvePending()).toEqual([]);
    const [session] = (await store.read()).sessions;
    expect(session).toMatchObject({
      sessionId: deposit.paymentHash,
      preimage: lightning.preimages.get(deposit.paymentHash),
      returnInvoice: "lnbcrt1return",
      challenge,
      opened: false,
      status: "open",
      paidSats: 60,
    });
  });
});

function offerOf(challenge: PaymentChallenge): Offer | undefined {
  return readOffers(headersOf([formatPaymentChallenge(challenge)]))[0];
}
