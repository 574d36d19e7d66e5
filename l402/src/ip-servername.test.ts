import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const helper = fileURLToPath(new URL("./ip-servername.ts", import.meta.url));

/** Runs a TLS connection with an IP ServerName in a fresh process (the warning is once per process), after `setup`. */
function stderrOf(setup: string): string {
  const script = `
    import { quietIpServernameWarning } from ${JSON.stringify(helper)};
    import { connect } from "node:tls";
    import { createServer } from "node:net";
    ${setup}
    process.emitWarning("an unrelated warning", "DeprecationWarning", "DEP0999");
    const server = createServer((socket) => socket.destroy()).listen(0, "127.0.0.1", () => {
      const socket = connect({ host: "127.0.0.1", port: server.address().port, servername: "127.0.0.1" });
      socket.on("error", () => undefined);
      socket.on("close", () => server.close());
    });
  `;
  const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
  });
  expect(result.status).toBe(0);
  return result.stderr;
}

describe("quietIpServernameWarning", () => {
  it("drops Node's DEP0123 for an LND socket given by IP, and no other warning", () => {
    expect(stderrOf("")).toContain("DEP0123");
    const quiet = stderrOf('quietIpServernameWarning("127.0.0.1:10009");');
    expect(quiet).not.toContain("DEP0123");
    expect(quiet).toContain("DEP0999");
  });

  it("leaves the warnings alone for an LND socket given by name", () => {
    expect(stderrOf('quietIpServernameWarning("localhost:10009");')).toContain("DEP0123");
  });
});
