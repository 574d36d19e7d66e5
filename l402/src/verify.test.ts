import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { capabilitiesCaveat, parseCaveat, preimageCaveat, servicesCaveat, validUntilCaveat } from "./caveats.js";
import { encodeIdentifier } from "./identifier.js";
import { addFirstPartyCaveats, type DecodedMacaroon, decodeMacaroon, decodeMacaroonBytes } from "./macaroon.js";
import { mintToken } from "./mint.js";
import type { CaveatSatisfier } from "./satisfiers.js";
import { MacaroonKey } from "./signature.js";
import { codeOf } from "./test-support/code-of.js";
import { type VerifyTokenOptions, verifyToken } from "./verify.js";

const preimage = Buffer.alloc(32, 0x11);
const paymentHash = createHash("sha256").update(preimage).digest();
const now = new Date("2026-03-01T00:00:00Z");
const validUntil = Math.floor(now.getTime() / 1000) + 3600;
const standardCaveats = [
  servicesCaveat([{ name: "llm", tier: 0 }]),
  capabilitiesCaveat("llm", ["chat", "completions"]),
  validUntilCaveat("llm", validUntil),
];

function mint(caveats: readonly string[] = standardCaveats) {
  return mintToken({ paymentHash, caveats });
}

/** Every caveat the macaroon holds counts as the issuer's unless `issuerCaveats` says otherwise. */
function verify(macaroon: DecodedMacaroon, rootKey: Buffer, overrides: Partial<VerifyTokenOptions> = {}) {
  const issuerCaveats = macaroon.caveats?.length ?? 0;
  return verifyToken({ macaroon, preimage, rootKey, service: "llm", now, issuerCaveats, ...overrides });
}

/** Refusal code of a token minted with `caveats` plus `appended` (added by a holder, without the root key). */
function codeWith(
  caveats: readonly string[],
  appended: readonly string[],
  overrides: Partial<VerifyTokenOptions> = {},
) {
  const token = mint(caveats);
  const macaroon = decodeMacaroon(addFirstPartyCaveats(token.macaroonBase64, appended));
  return codeOf(() => verify(macaroon, token.rootKey, { issuerCaveats: caveats.length, ...overrides }));
}

/** The binary V2 macaroon format written out by hand, so tests can build tokens the package would not. */
function encodeV2(fields: {
  location?: string;
  identifier: Buffer;
  caveats: readonly { id: string; location?: string; vid?: Buffer }[];
  signature: Buffer;
}): Buffer {
  const parts: Buffer[] = [Buffer.from([2])];
  const field = (type: number, data: Buffer) => {
    if (data.length >= 0x80) throw new Error("test helper only writes short fields");
    parts.push(Buffer.from([type, data.length]), data);
  };
  const end = () => parts.push(Buffer.from([0]));
  if (fields.location) field(1, Buffer.from(fields.location));
  field(2, fields.identifier);
  end();
  for (const caveat of fields.caveats) {
    if (caveat.location) field(1, Buffer.from(caveat.location));
    field(2, Buffer.from(caveat.id));
    if (caveat.vid) field(4, caveat.vid);
    end();
  }
  end();
  field(6, fields.signature);
  return Buffer.concat(parts);
}

describe("interop with Aperture (go-macaroon v2)", () => {
  // Made with gopkg.in/macaroon.v2 (the library Aperture mints with): macaroon.New(rootKey, id, "lsat", V2) where id
  // is Aperture's layout (uint16 0 ‖ sha256(0x11×32) ‖ 0x22×32) and rootKey is 0x33×32, then the three caveats.
  const goMacaroon =
    "AgEEbHNhdAJCAAAC1EmjH7smfI81Lplop54+X8lcG76qUC/WRU695aS+3CIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiAAIOc2VydmljZXM9bGxtOjAAAiFsbG1fY2FwYWJpbGl0aWVzPWNoYXQsY29tcGxldGlvbnMAAhpsbG1fdmFsaWRfdW50aWw9MTg5MzQ1NjAwMAAABiAXFSzR/2lQjJlOrKlOy4pMScd5DjFVc6XbW3pabFCC9Q==";
  const goCaveats = ["services=llm:0", "llm_capabilities=chat,completions", "llm_valid_until=1893456000"];
  const rootKey = Buffer.alloc(32, 0x33);
  const tokenId = Buffer.alloc(32, 0x22);

  it("decodes and verifies a token minted the way Aperture mints", () => {
    const macaroon = decodeMacaroon(goMacaroon);
    expect(macaroon.location).toBe("lsat");
    expect(macaroon.identifier.paymentHash.toString("hex")).toBe(
      "02d449a31fbb267c8f352e9968a79e3e5fc95c1bbeaa502fd6454ebde5a4bedc",
    );
    expect(macaroon.identifier.tokenId.equals(tokenId)).toBe(true);
    expect(macaroon.caveats).toEqual(goCaveats);
    expect(macaroon.signature.toString("hex")).toBe("17152cd1ff69508c994eaca94ecb8a4c49c7790e315573a5db5b7a5a6c5082f5");
    const verified = verify(macaroon, rootKey, { requiredCapabilities: ["chat"] });
    expect(verified.services).toEqual([{ name: "llm", tier: 0 }]);
    expect(verified.capabilities).toEqual(["chat", "completions"]);
    expect(verified.validUntil?.toISOString()).toBe("2030-01-01T00:00:00.000Z");
  });

  it("mints byte-identical tokens from the same inputs", () => {
    const token = mintToken({ paymentHash, caveats: goCaveats, rootKey, tokenId });
    expect(token.macaroonBase64).toBe(goMacaroon);
    expect(token.identifierBytes.equals(encodeIdentifier({ version: 0, paymentHash, tokenId }))).toBe(true);
  });
});

describe("verifyToken", () => {
  it("accepts a paid token and reports what it grants", () => {
    const token = mint();
    const verified = verify(decodeMacaroon(token.macaroonBase64), token.rootKey, { requiredCapabilities: ["chat"] });
    expect(verified.identifier.tokenId.equals(token.identifier.tokenId)).toBe(true);
    expect(verified.services).toEqual([{ name: "llm", tier: 0 }]);
    expect(verified.capabilities).toEqual(["chat", "completions"]);
    expect(verified.validUntil?.getTime()).toBe(validUntil * 1000);
  });

  it("refuses a wrong preimage, and a preimage that is not 32 bytes", () => {
    const token = mint();
    const macaroon = decodeMacaroon(token.macaroonBase64);
    expect(codeOf(() => verify(macaroon, token.rootKey, { preimage: Buffer.alloc(32, 0x12) }))).toBe("wrong_preimage");
    expect(codeOf(() => verify(macaroon, token.rootKey, { preimage: Buffer.alloc(31, 0x11) }))).toBe("malformed");
    expect(codeOf(() => verify(macaroon, token.rootKey, { preimage: Buffer.alloc(0) }))).toBe("malformed");
  });

  it("refuses a tampered signature and a wrong root key", () => {
    const token = mint();
    const tampered = Buffer.from(token.macaroon);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    expect(codeOf(() => verify(decodeMacaroonBytes(tampered), token.rootKey))).toBe("bad_signature");
    expect(codeOf(() => verify(decodeMacaroon(token.macaroonBase64), mint().rootKey))).toBe("bad_signature");
  });

  it("refuses a token with a caveat stripped or edited, keeping the signature", () => {
    const token = mint();
    const original = decodeMacaroon(token.macaroonBase64);
    const rebuild = (caveats: readonly string[]) =>
      decodeMacaroonBytes(
        encodeV2({
          location: original.location,
          identifier: original.identifierBytes,
          caveats: caveats.map((id) => ({ id })),
          signature: original.signature,
        }),
      );
    expect(rebuild(original.caveats).toBase64()).toBe(token.macaroonBase64);
    expect(verify(rebuild(original.caveats), token.rootKey).services).toHaveLength(1);
    expect(codeOf(() => verify(rebuild(original.caveats.slice(0, 2)), token.rootKey))).toBe("bad_signature");
    expect(codeOf(() => verify(rebuild([original.caveats[0] ?? ""]), token.rootKey))).toBe("bad_signature");
    const later = validUntilCaveat("llm", validUntil + 86400);
    expect(codeOf(() => verify(rebuild([...original.caveats.slice(0, 2), later]), token.rootKey))).toBe(
      "bad_signature",
    );
  });

  it("checks the preimage before the signature, and the signature before the caveats", () => {
    const token = mint([servicesCaveat([{ name: "img", tier: 0 }])]);
    const tampered = Buffer.from(token.macaroon);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    const macaroon = decodeMacaroonBytes(tampered);
    expect(codeOf(() => verify(macaroon, token.rootKey, { preimage: Buffer.alloc(32) }))).toBe("wrong_preimage");
    expect(codeOf(() => verify(macaroon, token.rootKey))).toBe("bad_signature");
    expect(codeOf(() => verify(decodeMacaroon(token.macaroonBase64), token.rootKey))).toBe("wrong_service");
  });

  it("refuses a token for another service, or naming none", () => {
    const token = mint();
    expect(codeOf(() => verify(decodeMacaroon(token.macaroonBase64), token.rootKey, { service: "img" }))).toBe(
      "wrong_service",
    );
    const noServices = mint([validUntilCaveat("llm", validUntil)]);
    expect(codeOf(() => verify(decodeMacaroon(noServices.macaroonBase64), noServices.rootKey))).toBe("wrong_service");
    const twoServices = mint([
      servicesCaveat([
        { name: "img", tier: 1 },
        { name: "llm", tier: 0 },
      ]),
    ]);
    expect(verify(decodeMacaroon(twoServices.macaroonBase64), twoServices.rootKey).services).toHaveLength(2);
  });

  it("enforces capabilities", () => {
    const token = mint();
    const macaroon = decodeMacaroon(token.macaroonBase64);
    expect(verify(macaroon, token.rootKey, { requiredCapabilities: ["chat", "completions"] }).capabilities).toEqual([
      "chat",
      "completions",
    ]);
    expect(codeOf(() => verify(macaroon, token.rootKey, { requiredCapabilities: ["admin"] }))).toBe(
      "missing_capability",
    );
    const none = mint([servicesCaveat([{ name: "llm", tier: 0 }])]);
    const noneMacaroon = decodeMacaroon(none.macaroonBase64);
    expect(verify(noneMacaroon, none.rootKey).capabilities).toBeUndefined();
    expect(codeOf(() => verify(noneMacaroon, none.rootKey, { requiredCapabilities: ["chat"] }))).toBe(
      "missing_capability",
    );
    expect(codeWith(standardCaveats, ["llm_capabilities="], { requiredCapabilities: ["chat"] })).toBe(
      "missing_capability",
    );
  });

  it("enforces valid_until, expiring at the instant itself", () => {
    const token = mint();
    const macaroon = decodeMacaroon(token.macaroonBase64);
    expect(verify(macaroon, token.rootKey, { now: new Date(validUntil * 1000 - 1) }).validUntil).toBeDefined();
    expect(codeOf(() => verify(macaroon, token.rootKey, { now: new Date(validUntil * 1000) }))).toBe("expired");
    const forever = mint([servicesCaveat([{ name: "llm", tier: 0 }])]);
    expect(verify(decodeMacaroon(forever.macaroonBase64), forever.rootKey).validUntil).toBeUndefined();
  });

  it("lets a holder narrow a token", () => {
    const twoServices = [
      servicesCaveat([
        { name: "llm", tier: 0 },
        { name: "img", tier: 0 },
      ]),
      ...standardCaveats.slice(1),
    ];
    expect(codeWith(twoServices, ["services=llm:0"])).toBeUndefined();
    expect(codeWith(twoServices, ["services=img:0"])).toBe("wrong_service");
    expect(codeWith(standardCaveats, ["llm_capabilities=chat"], { requiredCapabilities: ["chat"] })).toBeUndefined();
    expect(codeWith(standardCaveats, ["llm_capabilities=chat"], { requiredCapabilities: ["completions"] })).toBe(
      "missing_capability",
    );
    expect(codeWith(standardCaveats, [validUntilCaveat("llm", validUntil - 60)])).toBeUndefined();
    expect(codeWith(standardCaveats, [validUntilCaveat("llm", 1_000_000_000)])).toBe("expired");
  });

  it("refuses a caveat appended to widen what an earlier one allowed", () => {
    expect(codeWith(standardCaveats, ["services=llm:0,img:0"])).toBe("widened_caveat");
    expect(codeWith(standardCaveats, ["services=llm:1"])).toBe("widened_caveat");
    expect(codeWith(standardCaveats, ["llm_capabilities=chat,completions,admin"])).toBe("widened_caveat");
    expect(codeWith(standardCaveats, ["llm_capabilities=chat", "llm_capabilities=chat,completions"])).toBe(
      "widened_caveat",
    );
    expect(codeWith(standardCaveats, [validUntilCaveat("llm", validUntil + 1)])).toBe("widened_caveat");
    // Widening a service the request is not for is refused too: the token as a whole is no longer trustworthy.
    expect(codeWith(standardCaveats, ["img_valid_until=100", "img_valid_until=200"])).toBe("widened_caveat");
  });

  it("refuses unknown caveats but ignores well-formed ones scoped to another service", () => {
    expect(codeWith(standardCaveats, ["foo=bar"])).toBe("unknown_caveat");
    expect(codeWith(standardCaveats, ["llm_max_tokens=100"])).toBe("unknown_caveat");
    expect(codeWith(standardCaveats, ["_capabilities=chat"])).toBe("unknown_caveat");
    expect(codeWith(standardCaveats, ["img_capabilities=upload", "img_valid_until=1"])).toBeUndefined();
    expect(codeWith(standardCaveats, ["img_valid_until=soon"])).toBe("malformed");
    expect(codeWith(standardCaveats, ["services=llm:zero"])).toBe("malformed");
  });

  it("grants no capability through a capabilities caveat the holder added to a token minted without one", () => {
    const old = [servicesCaveat([{ name: "llm", tier: 0 }]), validUntilCaveat("llm", validUntil)];
    const chat = { requiredCapabilities: ["chat"] };
    expect(codeWith(old, ["llm_capabilities=chat,completions"], chat)).toBe("missing_capability");
    expect(codeWith(old, ["llm_capabilities=chat", "llm_capabilities=chat"], chat)).toBe("missing_capability");
    // Still judged for form and narrowing, and harmless where nothing is required.
    expect(codeWith(old, ["llm_capabilities=chat"])).toBeUndefined();
    expect(codeWith(old, ["llm_capabilities=chat", "llm_capabilities=chat,admin"])).toBe("widened_caveat");
    const token = mint(old);
    const appended = decodeMacaroon(addFirstPartyCaveats(token.macaroonBase64, ["llm_capabilities=chat"]));
    expect(verify(appended, token.rootKey, { issuerCaveats: 2 }).capabilities).toBeUndefined();
    // The same caveats written by the issuer do grant: the rule is about who wrote them, not what they say.
    expect(verify(appended, token.rootKey, { issuerCaveats: 3, ...chat }).capabilities).toEqual(["chat"]);
  });

  it("grants minted capabilities, and after a holder narrowed them only the subset", () => {
    const issuer = { issuerCaveats: standardCaveats.length };
    const token = mint();
    const macaroon = decodeMacaroon(token.macaroonBase64);
    expect(verify(macaroon, token.rootKey, { ...issuer, requiredCapabilities: ["completions"] }).capabilities).toEqual([
      "chat",
      "completions",
    ]);
    const narrowed = macaroon.withCaveats(["llm_capabilities=chat"]);
    expect(verify(narrowed, token.rootKey, { ...issuer, requiredCapabilities: ["chat"] }).capabilities).toEqual([
      "chat",
    ]);
    expect(codeOf(() => verify(narrowed, token.rootKey, { ...issuer, requiredCapabilities: ["completions"] }))).toBe(
      "missing_capability",
    );
  });

  it("grants no service through a services caveat the holder added, and lets the holder's caveats restrict", () => {
    const noServices = [validUntilCaveat("llm", validUntil)];
    expect(codeWith(noServices, ["services=llm:0"])).toBe("wrong_service");
    expect(codeWith(standardCaveats, [validUntilCaveat("llm", 1_000_000_000)])).toBe("expired");
    expect(codeWith([servicesCaveat([{ name: "llm", tier: 0 }])], [validUntilCaveat("llm", 1)])).toBe("expired");
  });

  it("refuses an issuer caveat count the token cannot have", () => {
    const token = mint();
    const macaroon = decodeMacaroon(token.macaroonBase64);
    for (const issuerCaveats of [4, -1, 1.5, Number.NaN]) {
      expect(codeOf(() => verify(macaroon, token.rootKey, { issuerCaveats }))).toBe("malformed");
    }
  });

  it("accepts the preimage caveat lnget appends when it is the presented preimage, and refuses any other", () => {
    const paid = preimageCaveat(preimage);
    expect(codeWith(standardCaveats, [paid])).toBeUndefined();
    expect(codeWith(standardCaveats, [paid.toUpperCase().replace("PREIMAGE", "preimage")])).toBeUndefined();
    expect(codeWith(standardCaveats, [paid, paid])).toBeUndefined();
    const other = preimageCaveat(Buffer.alloc(32, 0x12));
    expect(codeWith(standardCaveats, [other])).toBe("wrong_preimage");
    expect(codeWith(standardCaveats, [paid, other])).toBe("wrong_preimage");
    expect(codeWith(standardCaveats, [other, paid])).toBe("wrong_preimage");
    expect(codeWith(standardCaveats, ["preimage=abc"])).toBe("malformed");
    expect(codeWith(standardCaveats, [`preimage=${"g".repeat(64)}`])).toBe("malformed");
    // It restricts nothing the payment hash does not: it grants no capability either.
    const old = [servicesCaveat([{ name: "llm", tier: 0 }]), validUntilCaveat("llm", validUntil)];
    expect(codeWith(old, [paid], { requiredCapabilities: ["chat"] })).toBe("missing_capability");
  });

  it("refuses a caveat that is not condition=value", () => {
    const token = mint();
    const original = decodeMacaroon(token.macaroonBase64);
    const macaroon = original.withCaveats(["x=y"]);
    expect(codeOf(() => verify(macaroon, token.rootKey))).toBe("unknown_caveat");
    expect(() => original.withCaveats(["no-equals"])).toThrow(RangeError);
    expect(codeOf(() => parseCaveat("no-equals"))).toBe("unknown_caveat");
  });

  it("refuses third-party caveats", () => {
    const token = mint();
    const original = decodeMacaroon(token.macaroonBase64);
    const bytes = encodeV2({
      location: "lsat",
      identifier: original.identifierBytes,
      caveats: [
        { id: "services=llm:0" },
        { id: "third-party", location: "https://auth.example", vid: Buffer.alloc(72) },
      ],
      signature: original.signature,
    });
    expect(codeOf(() => decodeMacaroonBytes(bytes))).toBe("unknown_caveat");
  });

  it("accepts more caveat kinds through extra satisfiers, which cannot relax the built-in ones", () => {
    const maxTokens: CaveatSatisfier = {
      matches: (condition) => condition === "llm_max_tokens",
      checkChain: () => {},
      satisfy: () => {},
    };
    expect(codeWith(standardCaveats, ["llm_max_tokens=100"], { satisfiers: [maxTokens] })).toBeUndefined();
    const permissive: CaveatSatisfier = { matches: () => true, checkChain: () => {}, satisfy: () => {} };
    expect(codeWith(standardCaveats, ["services=llm:0,img:0"], { satisfiers: [permissive] })).toBe("widened_caveat");
  });

  it("never lets anything but an L402Error escape", () => {
    const token = mint();
    const macaroon = decodeMacaroon(token.macaroonBase64);
    expect(codeOf(() => verify({} as unknown as DecodedMacaroon, token.rootKey))).toBe("malformed");
    expect(codeOf(() => verify(macaroon, "key" as unknown as Buffer))).toBe("bad_signature");
    expect(codeOf(() => verify(macaroon, token.rootKey, { preimage: "x" as unknown as Buffer }))).toBe("malformed");
  });

  it("verifies with the root key's MacaroonKey as with the root key, and refuses another key's", () => {
    const token = mint();
    const macaroon = decodeMacaroon(token.macaroonBase64);
    expect(token.macaroonKey.bytes).toEqual(MacaroonKey.derive(token.rootKey).bytes);
    expect(
      codeOf(() =>
        verifyToken({ macaroon, preimage, rootKey: token.macaroonKey, service: "llm", now, issuerCaveats: 3 }),
      ),
    ).toBeUndefined();
    const other = MacaroonKey.derive(mint().rootKey);
    expect(
      codeOf(() => verifyToken({ macaroon, preimage, rootKey: other, service: "llm", now, issuerCaveats: 3 })),
    ).toBe("bad_signature");
    // The derived key is not a root key: given as bytes, it is derived once more and fails.
    expect(codeOf(() => verify(macaroon, token.macaroonKey.bytes))).toBe("bad_signature");
  });
});
