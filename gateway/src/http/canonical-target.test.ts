import { describe, expect, it } from "vitest";
import { canonicalPath, canonicalTarget, InvalidTargetError } from "./canonical-target.js";

describe("canonical request target", () => {
  it.each([
    ["/v1/chat/completions", "/v1/chat/completions"],
    ["/v1/chat/completions/", "/v1/chat/completions"],
    ["//v1///chat//completions", "/v1/chat/completions"],
    ["/v1/./chat/completions", "/v1/chat/completions"],
    ["/v1/models/../chat/completions", "/v1/chat/completions"],
    ["/v1/%2e%2E/v1/chat/completions", "/v1/chat/completions"],
    ["/../../v1/chat/completions", "/v1/chat/completions"],
    ["/v1/chat/%63ompletions", "/v1/chat/completions"],
    ["/v1/%43hat/completions", "/v1/Chat/completions"],
    ["/v1/a%20b/%e2%82%ac", "/v1/a%20b/%E2%82%AC"],
    ["/v1/a b", "/v1/a%20b"],
    ["/", "/"],
    ["/.", "/"],
  ])("reads %s as %s", (raw, path) => {
    const target = canonicalTarget(raw);
    expect(target.path).toBe(path);
    expect(target.key).toBe(path.toLowerCase());
    expect(canonicalTarget(target.path).path, "canonical form is a fixed point").toBe(path);
  });

  it("reads every path exactly as the segment-by-segment algorithm does, fast path included", () => {
    // Paths from an alphabet that reaches both the already-canonical shortcut and every kind of rewrite.
    const alphabet = ["/", "/", "a", "B", "1", ".", "..", "%", "%2e", "%41", "~", "@", ":", " ", "é", "-", "_", ";"];
    let seed = 7;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed;
    };
    let shortcut = 0;
    for (let i = 0; i < 20_000; i++) {
      let raw = "/";
      for (let n = next() % 12; n > 0; n--) raw += alphabet[next() % alphabet.length];
      let slow: string | Error;
      try {
        slow = canonicalPath(raw);
      } catch (error) {
        slow = error as Error;
      }
      if (slow === raw) shortcut++;
      if (slow instanceof Error) expect(() => canonicalTarget(raw), raw).toThrow(InvalidTargetError);
      else expect(canonicalTarget(raw).path, raw).toBe(slow);
    }
    expect(shortcut, "paths that are already canonical").toBeGreaterThan(1_000);
  });

  it("keeps the query string apart and unchanged", () => {
    expect(canonicalTarget("/v1//x/?a=1&b=%2F")).toEqual({ path: "/v1/x", key: "/v1/x", query: "?a=1&b=%2F" });
  });

  it("compares in lower case and forwards the client's case", () => {
    expect(canonicalTarget("/V1/CHAT/Completions")).toMatchObject({
      path: "/V1/CHAT/Completions",
      key: "/v1/chat/completions",
    });
  });

  it.each([
    ["an encoded slash", "/v1/chat%2Fcompletions"],
    ["an encoded backslash", "/v1/chat%5ccompletions"],
    ["a backslash", "/v1\\chat/completions"],
    ["a malformed escape", "/v1/chat/%zzcompletions"],
    ["a truncated escape", "/v1/chat/completions%4"],
    ["invalid UTF-8", "/v1/%ff"],
    ["an encoded NUL", "/v1/%00/chat"],
    ["an encoded newline", "/v1/%0a"],
    ["an absolute URI", "http://evil.example/v1/chat/completions"],
    ["an asterisk", "*"],
  ])("refuses %s", (_name, raw) => {
    expect(() => canonicalTarget(raw)).toThrow(InvalidTargetError);
  });
});
