import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { invoiceNetwork } from "./invoice-network.js";
import { preimageHexProves, preimageProves } from "./preimage.js";

const preimage = randomBytes(32);
const paymentHash = createHash("sha256").update(preimage).digest();

describe("preimageProves", () => {
  it("is true only for the preimage of the payment hash", () => {
    expect(preimageProves(preimage, paymentHash)).toBe(true);
    expect(preimageProves(randomBytes(32), paymentHash)).toBe(false);
    expect(preimageProves(paymentHash, paymentHash)).toBe(false);
  });

  it("is false, not an exception, for a hash of another length", () => {
    expect(preimageProves(preimage, paymentHash.subarray(0, 31))).toBe(false);
    expect(preimageProves(preimage, Buffer.alloc(0))).toBe(false);
  });

  it("reads hex in either case", () => {
    const hash = paymentHash.toString("hex");
    expect(preimageHexProves(preimage.toString("hex"), hash)).toBe(true);
    expect(preimageHexProves(preimage.toString("hex").toUpperCase(), hash)).toBe(true);
    expect(preimageHexProves(randomBytes(32).toString("hex"), hash)).toBe(false);
  });
});

describe("invoiceNetwork", () => {
  it("names the network of each BOLT11 prefix as the Payment drafts do", () => {
    expect(invoiceNetwork("lnbc10u1pjexample")).toBe("mainnet");
    expect(invoiceNetwork("lnbcrt10u1pjexample")).toBe("regtest");
    expect(invoiceNetwork("LNBCRT1pjexample")).toBe("regtest");
    expect(invoiceNetwork("lntb10u1pjexample")).toBe("testnet");
    expect(invoiceNetwork("lntbs10u1pjexample")).toBe("signet");
    expect(invoiceNetwork("lnsb10u1pjexample")).toBe("simnet");
    expect(invoiceNetwork("lnbcrt1pjexample")).toBe("regtest");
  });
});
