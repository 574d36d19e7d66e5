import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./regtest/paths.js";

const run = promisify(execFile);

// The programs as the README shows them, typed at the repository root after `npm ci`. npm_config_yes=false keeps npx
// from fetching a registry package of the same name when the workspace's bin is not linked: that must fail here.
describe("the README's entry points", () => {
  it.each([
    ["l402-gateway", /^usage:\n {2}l402-gateway --config <file\.yaml>/m],
    ["l402", /^usage:\n {2}l402 get <url>/m],
    ["l402-llm-backend", /^Usage: l402-llm-backend \[options\]/m],
  ])("npx %s --help prints its usage and exits 0", async (program, usage) => {
    const { stdout } = await run("npx", [program, "--help"], {
      cwd: REPO_ROOT,
      env: { ...process.env, npm_config_yes: "false" },
    });
    expect(stdout).toMatch(usage);
  });
});
