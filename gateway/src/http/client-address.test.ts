import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import type { GatewayConfig } from "../config/schema.js";
import { ClientAddresses, type ClientInfo } from "./client-address.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((done) => server.close(done))));
});

async function listen(handler: (req: IncomingMessage) => ClientInfo): Promise<string> {
  const server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(handler(req)));
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Express reads the same request with the same `trust proxy` setting: the reference these answers must equal. */
async function expressReading(setting: GatewayConfig["trustProxy"]): Promise<string> {
  const app = express();
  app.set("trust proxy", setting);
  app.use((req, res) => {
    res.json({ ip: req.ip, protocol: req.protocol, hostname: req.hostname });
  });
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const headerSets: Record<string, string>[] = [
  {},
  { "x-forwarded-for": "203.0.113.7" },
  { "x-forwarded-for": "198.51.100.1, 203.0.113.7", "x-forwarded-proto": "https", "x-forwarded-host": "api.example" },
  { "x-forwarded-for": "10.0.0.1, 198.51.100.1", "x-forwarded-proto": "https, http", host: "gw.example:8443" },
  { "x-forwarded-host": "a.example:9000, b.example", host: "[::1]:8080" },
  { "x-forwarded-proto": "http", host: "gw.example" },
];

describe("client address, protocol and host behind proxies", () => {
  it.each<GatewayConfig["trustProxy"]>([false, true, 1, 2, "loopback", "10.0.0.0/8", "127.0.0.1, 198.51.100.1"])(
    "reads what Express reads with trust proxy %s",
    async (setting) => {
      const clients = new ClientAddresses(setting);
      const ours = await listen((req) => clients.of(req));
      const reference = await expressReading(setting);
      for (const headers of headerSets) {
        const [mine, theirs] = await Promise.all(
          [ours, reference].map(async (url) => (await fetch(url, { headers })).json()),
        );
        expect(mine, JSON.stringify(headers)).toEqual(theirs);
      }
    },
  );

  it("reads each request once", async () => {
    const clients = new ClientAddresses(true);
    let same = false;
    const url = await listen((req) => {
      const first = clients.of(req);
      same = first === clients.of(req);
      return first;
    });
    await fetch(url);
    expect(same).toBe(true);
  });
});
