import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { credentialAsBase64 } from "./credentials.js";

describe("credentialAsBase64", () => {
  const bytes = Buffer.from([2, 1, 3, 0xfe, 0x10]);

  it("reads a file, hex or base64", () => {
    const file = join(mkdtempSync(join(tmpdir(), "l402-cred-")), "admin.macaroon");
    writeFileSync(file, bytes);
    expect(credentialAsBase64(file, "macaroon")).toBe(bytes.toString("base64"));
    expect(credentialAsBase64(bytes.toString("hex"), "macaroon")).toBe(bytes.toString("base64"));
    expect(credentialAsBase64(bytes.toString("base64"), "macaroon")).toBe(bytes.toString("base64"));
  });

  it("refuses what is none of them", () => {
    expect(() => credentialAsBase64("  ", "cert")).toThrow(RangeError);
    expect(() => credentialAsBase64("not/a file!", "cert")).toThrow(/neither/);
  });
});
