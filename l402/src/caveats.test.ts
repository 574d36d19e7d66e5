import { describe, expect, it } from "vitest";
import {
  capabilitiesCaveat,
  parseCapabilities,
  parseCaveat,
  parseServices,
  parseValidUntil,
  servicesCaveat,
  validUntilCaveat,
} from "./caveats.js";
import { codeOf } from "./test-support/code-of.js";

describe("caveat builders", () => {
  it("write Aperture's caveat strings", () => {
    expect(servicesCaveat([{ name: "llm", tier: 0 }])).toBe("services=llm:0");
    expect(
      servicesCaveat([
        { name: "llm", tier: 0 },
        { name: "img", tier: 2 },
      ]),
    ).toBe("services=llm:0,img:2");
    expect(capabilitiesCaveat("llm", ["chat", "completions"])).toBe("llm_capabilities=chat,completions");
    expect(capabilitiesCaveat("llm", [])).toBe("llm_capabilities=");
    expect(validUntilCaveat("llm", 1893456000)).toBe("llm_valid_until=1893456000");
    expect(validUntilCaveat("llm", new Date("2030-01-01T00:00:00.999Z"))).toBe("llm_valid_until=1893456000");
  });

  it("refuse names that would change the meaning of the caveat", () => {
    expect(() => servicesCaveat([])).toThrow(RangeError);
    expect(() => servicesCaveat([{ name: "a,b", tier: 0 }])).toThrow(RangeError);
    expect(() => servicesCaveat([{ name: "a:1", tier: 0 }])).toThrow(RangeError);
    expect(() => servicesCaveat([{ name: "a", tier: 256 }])).toThrow(RangeError);
    expect(() => servicesCaveat([{ name: "a", tier: 1.5 }])).toThrow(RangeError);
    expect(() =>
      servicesCaveat([
        { name: "a", tier: 0 },
        { name: "a", tier: 1 },
      ]),
    ).toThrow(RangeError);
    expect(() => capabilitiesCaveat("llm", ["chat,admin"])).toThrow(RangeError);
    expect(() => capabilitiesCaveat("l=m", ["chat"])).toThrow(RangeError);
    expect(() => validUntilCaveat("llm", -1)).toThrow(RangeError);
    expect(() => validUntilCaveat("", 1)).toThrow(RangeError);
  });
});

describe("caveat parsers", () => {
  it("split at the first =", () => {
    expect(parseCaveat("a=b=c")).toEqual({ condition: "a", value: "b=c" });
    expect(parseCaveat("llm_capabilities=")).toEqual({ condition: "llm_capabilities", value: "" });
    expect(codeOf(() => parseCaveat("no-equals"))).toBe("unknown_caveat");
    expect(codeOf(() => parseCaveat("=value"))).toBe("unknown_caveat");
  });

  it("parse services strictly", () => {
    expect(parseServices("llm:0,img:255")).toEqual([
      { name: "llm", tier: 0 },
      { name: "img", tier: 255 },
    ]);
    for (const bad of ["", "llm", "llm:", ":0", "llm:0:1", "llm:-1", "llm:+1", "llm:256", "llm:0,", "llm:0,llm:1"]) {
      expect(
        codeOf(() => parseServices(bad)),
        bad,
      ).toBe("malformed");
    }
  });

  it("parse capabilities and valid_until", () => {
    expect(parseCapabilities("chat,completions")).toEqual(["chat", "completions"]);
    expect(parseCapabilities("")).toEqual([]);
    expect(codeOf(() => parseCapabilities("chat,"))).toBe("malformed");
    expect(codeOf(() => parseCapabilities("chat, x"))).toBe("malformed");
    expect(parseValidUntil("1893456000")).toBe(1893456000);
    for (const bad of ["", "-1", "+5", "1e9", "0x10", " 5", "99999999999999999999"]) {
      expect(
        codeOf(() => parseValidUntil(bad)),
        bad,
      ).toBe("malformed");
    }
  });
});
