import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { L402ClientError } from "./errors.js";
import { isLoopbackAddress, loopbackAddresses, type Resolver } from "./loopback.js";
import { fetchThrough, OriginGuard } from "./transport.js";

/** A resolver that knows only `names`, and counts the questions. */
function resolver(names: Record<string, string[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (hostname: string) => {
    asked.push(hostname);
    const addresses = names[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? (6 as const) : (4 as const) }));
  };
  return Object.assign(resolve, { asked });
}

describe("loopback is an address", () => {
  it("knows loopback addresses however they are written", () => {
    for (const address of ["127.0.0.1", "127.8.9.10", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::ffff:7f00:1"]) {
      expect(isLoopbackAddress(address), address).toBe(true);
    }
    for (const address of ["10.0.0.1", "128.0.0.1", "::2", "fe80::1", "::ffff:10.0.0.1", "localhost", "127.0.0.1.x"]) {
      expect(isLoopbackAddress(address), address).toBe(false);
    }
  });

  it("resolves names, *.localhost included: loopback only when every address is", async () => {
    const resolve = resolver({
      "api.localhost": ["127.0.0.1", "::1"],
      "evil.localhost": ["203.0.113.7"],
      "mixed.localhost": ["127.0.0.1", "203.0.113.7"],
      "empty.localhost": [],
    });
    expect(await loopbackAddresses("api.localhost", resolve)).toHaveLength(2);
    for (const name of ["evil.localhost", "mixed.localhost", "empty.localhost", "nowhere.localhost"]) {
      expect(await loopbackAddresses(name, resolve), name).toBeUndefined();
    }
    // A literal address is never looked up.
    expect(await loopbackAddresses("[::1]", resolve)).toEqual([{ address: "::1", family: 6 }]);
    expect(await loopbackAddresses("192.0.2.1", resolve)).toBeUndefined();
    expect(resolve.asked).not.toContain("[::1]");
  });

  it("refuses a plain-HTTP name that does not resolve to loopback, before sending anything", async () => {
    const guard = new OriginGuard(false, resolver({ "evil.localhost": ["203.0.113.7"] }));
    const refused = await guard.check(new URL("http://evil.localhost:8080/")).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(L402ClientError);
    expect(refused).toMatchObject({ code: "insecure_origin" });
    await expect(guard.check(new URL("https://evil.localhost/"))).resolves.toBeUndefined();
    await expect(new OriginGuard(true).check(new URL("http://evil.localhost/"))).resolves.toBeUndefined();
  });

  it("connects a checked name to the addresses checked, whatever the name would resolve to later", async () => {
    const server = createServer((_request, response) => response.end("reached the loopback server"));
    await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
    try {
      const { port } = server.address() as AddressInfo;
      // "rebind.example" exists nowhere (the .example names are reserved): only the pin can make it reach a server.
      const guard = new OriginGuard(false, resolver({ "rebind.example": ["127.0.0.1"] }));
      const url = new URL(`http://rebind.example:${port}/`);
      await guard.check(url);
      expect(guard.pinned("rebind.example")).toEqual([{ address: "127.0.0.1", family: 4 }]);
      const response = await fetchThrough(guard)(new Request(url));
      expect(await response.text()).toBe("reached the loopback server");
    } finally {
      server.closeAllConnections();
      await new Promise<void>((closed) => server.close(() => closed()));
    }
  });
});
