import type { IncomingMessage, ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { canonicalTarget } from "../http/canonical-target.js";
import { type OwnRoute, OwnRoutes } from "./own-routes.js";

const answering =
  (status: number): OwnRoute =>
  () => ({ status });

describe("the gateway's own routes", () => {
  const routes = new OwnRoutes().read("/healthz", answering(200)).post("/l402/quote", answering(201));
  const statusOf = async (method: string | undefined, path: string) =>
    routes.find(method, path)?.({} as IncomingMessage, {} as ServerResponse, canonicalTarget(path));

  it("answers a read route to GET and HEAD, and a POST route to POST only", async () => {
    expect(await statusOf("GET", "/healthz")).toEqual({ status: 200 });
    expect(await statusOf("HEAD", "/healthz")).toEqual({ status: 200 });
    expect(await statusOf("POST", "/l402/quote")).toEqual({ status: 201 });
    expect(routes.find("POST", "/healthz")).toBeUndefined();
    expect(routes.find("GET", "/l402/quote")).toBeUndefined();
    expect(routes.find("PUT", "/healthz")).toBeUndefined();
    expect(routes.find(undefined, "/healthz")).toBeUndefined();
  });

  it("knows no other path, so a service's own /healthz below a prefix still goes to the service", () => {
    expect(routes.find("GET", "/v1/healthz")).toBeUndefined();
    expect(routes.find("GET", "/healthz/")).toBeUndefined();
  });
});
