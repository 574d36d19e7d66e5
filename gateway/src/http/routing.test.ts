import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/load.js";
import { ServiceRouter } from "./routing.js";

const config = parseConfig({
  lnd: { socket: "127.0.0.1:10009", cert: "x", macaroon: "x" },
  store: { path: ":memory:" },
  services: [
    {
      name: "llm",
      match: { pathPrefix: "/v1/", methods: ["post", "GET"] },
      upstream: "http://127.0.0.1:1",
      price: { sats: 1 },
      capabilities: ["chat", "completions"],
      capabilityRules: [
        { pathPrefix: "/v1/chat/", capability: "chat" },
        { pathPrefix: "/v1/completions", capability: "completions", methods: ["POST"] },
      ],
      freePaths: ["/v1/models", "/v1/public/*"],
    },
    {
      name: "weather",
      match: { pathRegex: "^/weather/[a-z]+$", host: "api.example.com" },
      upstream: "http://127.0.0.1:2",
      price: { sats: 1 },
    },
  ],
});
const router = new ServiceRouter(config.services);

describe("service routing", () => {
  it("matches by prefix and method, and finds required capabilities", () => {
    const match = router.match({ method: "POST", path: "/v1/chat/completions", host: "x" });
    expect(match?.service.name).toBe("llm");
    expect(match?.free).toBe(false);
    expect(match?.requiredCapabilities).toEqual(["chat"]);
    expect(router.match({ method: "POST", path: "/v1/completions", host: "x" })?.requiredCapabilities).toEqual([
      "completions",
    ]);
    expect(router.match({ method: "GET", path: "/v1/completions", host: "x" })?.requiredCapabilities).toEqual([]);
    expect(router.match({ method: "DELETE", path: "/v1/chat/completions", host: "x" })).toBeUndefined();
  });

  it("lets free paths through: exact, or prefix with *", () => {
    expect(router.match({ method: "GET", path: "/v1/models", host: "x" })?.free).toBe(true);
    expect(router.match({ method: "GET", path: "/v1/models/extra", host: "x" })?.free).toBe(false);
    expect(router.match({ method: "GET", path: "/v1/public/a/b", host: "x" })?.free).toBe(true);
  });

  it("matches by regex and host, case-insensitively for the host", () => {
    expect(router.match({ method: "GET", path: "/weather/paris", host: "API.example.com" })?.service.name).toBe(
      "weather",
    );
    expect(router.match({ method: "GET", path: "/weather/paris", host: "other.example.com" })).toBeUndefined();
    expect(router.match({ method: "GET", path: "/weather/paris/2", host: "api.example.com" })).toBeUndefined();
  });
});

describe("routing every spelling of a path alike", () => {
  it("answers case variants of prefixes, free paths and capability rules the same", () => {
    const match = router.match({ method: "POST", path: "/V1/CHAT/COMPLETIONS".toLowerCase(), host: "x" });
    expect(match?.requiredCapabilities).toEqual(["chat"]);
    const upper = parseConfig({
      lnd: { socket: "127.0.0.1:10009", cert: "x", macaroon: "x" },
      store: { path: ":memory:" },
      services: [
        {
          name: "api",
          match: { pathPrefix: "/API/" },
          upstream: "http://127.0.0.1:1",
          price: { sats: 1 },
          capabilities: ["write"],
          capabilityRules: [{ pathPrefix: "/API/Write", capability: "write" }],
          freePaths: ["/API/Docs/"],
        },
      ],
    });
    const mixed = new ServiceRouter(upper.services);
    expect(mixed.match({ method: "GET", path: "/api/docs", host: undefined })?.free).toBe(true);
    expect(mixed.match({ method: "GET", path: "/api/write/x", host: undefined })?.requiredCapabilities).toEqual([
      "write",
    ]);
  });
});
