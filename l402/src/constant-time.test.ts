import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * Timing side channels, by code inspection: a preimage or a signature must never be compared with an early-exit
 * comparison, which would leak how many leading bytes of a guess are right.
 */
const require = createRequire(import.meta.url);
const source = (path: string) => readFileSync(join(import.meta.dirname, path), "utf8");

describe("constant-time comparisons", () => {
  it("compares sha256(preimage) with the payment hash through crypto.timingSafeEqual only", () => {
    const verify = source("verify.ts");
    expect(verify).toMatch(/import \{[^}]*timingSafeEqual[^}]*\} from "node:crypto"/);
    expect(verify).toMatch(/timingSafeEqual\(hash, paymentHash\)/);
    // No other way of comparing those bytes in the file.
    expect(verify).not.toMatch(/\.equals\(|Buffer\.compare|hash\s*===|toString\("hex"\)\s*===/);
  });

  it("compares a preimage caveat with the presented preimage through crypto.timingSafeEqual only", () => {
    const satisfiers = source("satisfiers.ts");
    expect(satisfiers).toMatch(/return a\.length === b\.length && timingSafeEqual\(a, b\);/);
    expect(satisfiers).toMatch(/samePreimage\(parsePreimage\(value\), preimage\)/);
    expect(satisfiers).not.toMatch(/\.equals\(|Buffer\.compare|preimage\s*===/);
  });

  it("checks macaroon signatures with sjcl's bitArray.equal, which XORs every word before deciding", () => {
    expect(source("macaroon.ts")).toMatch(/#macaroon\.verify\(/);
    const macaroonPackage = readFileSync(require.resolve("macaroon"), "utf8");
    expect(macaroonPackage).toMatch(/if \(!sjcl\.bitArray\.equal\(boundSigBits, this\._signatureBits\)\)/);
    const sjcl = readFileSync(join(dirname(require.resolve("sjcl")), "sjcl.js"), "utf8");
    const equal = /equal:function\(a,b\)\{([^}]*)\}/.exec(sjcl)?.[1] ?? "";
    // Length first (public), then an OR-accumulated XOR over all words with no early return.
    expect(equal).toMatch(/for\(d=0;d<a\.length;d\+\+\)c\|=a\[d\]\^b\[d\];return 0===/);
  });

  it("compares the gateway's admin secret through digests and timingSafeEqual", () => {
    const auth = readFileSync(join(import.meta.dirname, "..", "..", "gateway", "src", "admin", "auth.ts"), "utf8");
    expect(auth).toMatch(/timingSafeEqual\(digest\(match\[1\]\), expected\)/);
  });
});
