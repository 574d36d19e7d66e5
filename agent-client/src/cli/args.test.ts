import { describe, expect, it } from "vitest";
import { parseCommandLine, UsageError } from "./args.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";

const env = { L402_STORE: "/tmp/store.json", L402_LND_SOCKET: "127.0.0.1:10009", L402_LND_MACAROON: "AgE=" };

describe("parseCommandLine", () => {
  it("reads get and post with headers, body, caps and the environment", () => {
    const get = parseCommandLine(["get", "https://api.test/v1/x", "-H", "Accept: application/json"], env);
    expect(get).toMatchObject({
      command: "get",
      store: "/tmp/store.json",
      lndSocket: "127.0.0.1:10009",
      headers: [["Accept", "application/json"]],
      dryRun: false,
    });
    const post = parseCommandLine(
      ["post", "http://localhost:8080/v1/chat", "-d", "{}", "--max-cost", "100", "--max-fee", "0", "--dry-run"],
      {},
    );
    expect(post).toMatchObject({ command: "post", data: "{}", maxCostSats: 100, maxFeeSats: 0, dryRun: true });
    expect(post).toMatchObject({ store: expect.stringMatching(/\.l402\/store\.json$/) });
  });

  it("reads the safety flags: --allow-refused and the timeouts", () => {
    expect(
      parseCommandLine(["get", "http://x/", "--allow-refused", "--headers-timeout", "5", "--idle-timeout", "7"], env),
    ).toMatchObject({ allowRefused: true, headersTimeoutSeconds: 5, idleTimeoutSeconds: 7 });
    expect(parseCommandLine(["get", "http://x/"], env)).toMatchObject({ allowRefused: false });
    expect(parseCommandLine(["get", "https://x/", "--insecure", "--cacert", "/etc/ca.pem"], env)).toMatchObject({
      insecure: true,
      cacert: "/etc/ca.pem",
    });
    expect(parseCommandLine(["get", "https://x/"], env)).toMatchObject({ insecure: false, cacert: undefined });
    expect(() => parseCommandLine(["get", "http://x/", "--idle-timeout", "0"], env)).toThrow(UsageError);
  });

  it("reads the no-loop controls: --cool-off, refusals list and clear, and mcp's timeouts", () => {
    expect(parseCommandLine(["get", "https://x/", "--cool-off", "3600"], env)).toMatchObject({ coolOffSeconds: 3600 });
    expect(parseCommandLine(["refusals"], env)).toMatchObject({ command: "refusals", action: "list" });
    expect(parseCommandLine(["refusals", "clear", "https://x.test/a/b"], env)).toMatchObject({
      action: "clear",
      origin: "https://x.test",
    });
    expect(parseCommandLine(["refusals", "clear", "--all"], env)).toMatchObject({ action: "clear", origin: undefined });
    expect(() => parseCommandLine(["refusals", "clear"], env)).toThrow(UsageError);
    expect(() => parseCommandLine(["refusals", "list", "https://x/"], env)).toThrow(UsageError);
    expect(parseCommandLine(["mcp", "--headers-timeout", "5", "--cool-off", "60"], env)).toMatchObject({
      headersTimeoutSeconds: 5,
      coolOffSeconds: 60,
    });
    expect(exitCodeFor("paid_not_served")).toBe(EXIT.httpError);
  });

  it("reads --scheme as the offers to pay, and close with an origin or --all", () => {
    expect(parseCommandLine(["get", "https://x/", "--scheme", "charge,l402"], env)).toMatchObject({
      schemes: ["charge", "l402"],
    });
    expect(() => parseCommandLine(["get", "https://x/", "--scheme", "cash"], env)).toThrow(UsageError);
    expect(parseCommandLine(["close", "https://api.test/v1/x"], env)).toMatchObject({
      command: "close",
      origin: "https://api.test",
    });
    expect(parseCommandLine(["close", "--all"], env)).toMatchObject({ command: "close", origin: undefined });
    expect(() => parseCommandLine(["close"], env)).toThrow(UsageError);
    expect(() => parseCommandLine(["close", "https://a.test", "--all"], env)).toThrow(UsageError);
  });

  it("reads quote and mcp, and the NWC wallet from flags or the environment", () => {
    expect(parseCommandLine(["quote", "https://api.test/v1/chat", "-d", "{}"], env)).toMatchObject({
      command: "quote",
      method: "POST",
      data: "{}",
    });
    expect(parseCommandLine(["quote", "https://api.test/w", "-X", "put"], env)).toMatchObject({ method: "PUT" });
    expect(parseCommandLine(["mcp", "--confirm-above", "50", "--max-cost", "200"], env)).toMatchObject({
      command: "mcp",
      maxCostSats: 200,
      maxFeeSats: 10,
      confirmAboveSats: 50,
    });
    expect(parseCommandLine(["mcp"], env)).toMatchObject({ maxCostSats: 1000, confirmAboveSats: undefined });
    expect(
      parseCommandLine(["get", "https://x/", "--wallet", "nwc", "--nwc-uri-file", "/k/nwc.uri"], {}),
    ).toMatchObject({ wallet: "nwc", nwcUriFile: "/k/nwc.uri" });
    expect(
      parseCommandLine(["receipts"], { L402_WALLET: "nwc", L402_NWC_URI: "nostr+walletconnect://x" }),
    ).toMatchObject({ wallet: "nwc", nwcUri: "nostr+walletconnect://x" });
    expect(() => parseCommandLine(["get", "https://x/", "--wallet", "cln"], env)).toThrow("--wallet is lnd or nwc");
    expect(() => parseCommandLine(["mcp", "extra"], env)).toThrow(UsageError);
  });

  it("flags win over the environment", () => {
    expect(parseCommandLine(["receipts", "--store", "/x.json"], env)).toMatchObject({ store: "/x.json" });
  });

  it.each([
    [[]],
    [["get"]],
    [["get", "ftp://x/"]],
    [["get", "not a url"]],
    [["get", "http://x/", "-d", "body"]],
    [["post", "http://x/", "--max-cost", "-5"]],
    [["post", "http://x/", "--max-cost", "0"]],
    [["post", "http://x/", "-H", "no colon"]],
    [["get", "http://x/", "--bogus"]],
    [["tokens", "rm"]],
    [["tokens", "shuffle"]],
    [["receipts", "--status", "lost"]],
    [["budget", "set"]],
    [["budget", "set", "--daily", "1.5"]],
    [["fly"]],
  ])("refuses %j as bad usage", (argv) => {
    expect(() => parseCommandLine(argv, env)).toThrow(UsageError);
  });

  it("maps every error code to a documented exit code", () => {
    expect(exitCodeFor("over_cap")).toBe(EXIT.overLimit);
    expect(exitCodeFor("budget_exceeded")).toBe(3);
    expect(exitCodeFor("payment_failed")).toBe(4);
    expect(exitCodeFor("payment_timeout")).toBe(4);
    expect(exitCodeFor("payment_refused")).toBe(5);
    expect(exitCodeFor("payment_hash_mismatch")).toBe(6);
    expect(exitCodeFor("dry_run")).toBe(0);
  });
});
