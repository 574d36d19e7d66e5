import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * Timing side channels, by code inspection: a preimage or a signature must never be compared with an early-exit
 * comparison, which would leak how many leading bytes of a guess are right.
 */
const source = (path: string) => readFileSync(join(import.meta.dirname, path), "utf8");

describe("constant-time comparisons", () => {
  it("compares sha256(preimage) with the payment hash through crypto.timingSafeEqual only", () => {
    const preimage = source("preimage.ts");
    expect(preimage).toMatch(/import \{[^}]*timingSafeEqual[^}]*\} from "node:crypto"/);
    expect(preimage).toMatch(/timingSafeEqual\(hash, paymentHash\)/);
    expect(source("verify.ts")).toMatch(/preimageProves\(preimage, paymentHash\)/);
    // The gateway's checks of L402 preimages (close) and Payment preimages (charge, session) are the same one.
    const gateway = (path: string) =>
      readFileSync(join(import.meta.dirname, "..", "..", "gateway", "src", path), "utf8");
    expect(gateway("pipeline/close.ts")).toMatch(/preimageProves\(credential\.preimage, identifier\.paymentHash\)/);
    expect(gateway("payment/gate.ts")).toMatch(/preimageHexProves\(preimage, /);
    // No other way of comparing those bytes in these files.
    for (const text of [preimage, source("verify.ts"), gateway("pipeline/close.ts"), gateway("payment/gate.ts")]) {
      expect(text).not.toMatch(
        /\.equals\(|Buffer\.compare|hash\s*===(?!\s*undefined)|toString\("hex"\)\s*===|digest\("hex"\)\s*===/,
      );
    }
  });

  it("compares a preimage caveat with the presented preimage through crypto.timingSafeEqual only", () => {
    const satisfiers = source("satisfiers.ts");
    expect(satisfiers).toMatch(/return a\.length === b\.length && timingSafeEqual\(a, b\);/);
    expect(satisfiers).toMatch(/samePreimage\(parsePreimage\(value\), preimage\)/);
    expect(satisfiers).not.toMatch(/\.equals\(|Buffer\.compare|preimage\s*===/);
  });

  it("checks macaroon signatures through crypto.timingSafeEqual only", () => {
    const signature = source("signature.ts");
    expect(signature).toMatch(/import \{[^}]*timingSafeEqual[^}]*\} from "node:crypto"/);
    expect(signature).toMatch(/timingSafeEqual\(expected, presented\)/);
    expect(source("macaroon.ts")).toMatch(/signaturesMatch\(chainSignature\(rootKey, /);
    for (const file of ["signature.ts", "macaroon.ts"]) {
      expect(source(file)).not.toMatch(/\.equals\(|Buffer\.compare|signature\s*===/);
    }
  });

  it("compares the gateway's admin secret through digests and timingSafeEqual", () => {
    const auth = readFileSync(join(import.meta.dirname, "..", "..", "gateway", "src", "admin", "auth.ts"), "utf8");
    expect(auth).toMatch(/timingSafeEqual\(digest\(match\[1\]\), expected\)/);
  });
});
