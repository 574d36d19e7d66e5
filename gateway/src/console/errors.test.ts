import type { AddressInfo } from "node:net";
import express from "express";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleErrors, notFound, PRICE_CHANGE_STATUS } from "./errors.js";
import { PriceChangeError } from "./price-file.js";

describe("the console's one error handler", () => {
  const logged: string[] = [];
  let server: ReturnType<express.Express["listen"]>;
  let base = "";

  beforeAll(async () => {
    const app = express();
    const log = pino({ level: "error" }, { write: (line: string) => logged.push(line) });
    app.use(express.urlencoded({ extended: false, limit: "16b" }));
    app.use((_req, res, next) => {
      res.locals.session = { csrfToken: "csrf", who: "tester" };
      next();
    });
    app.post("/change", () => {
      throw new PriceChangeError("prices_changed", "reload the page");
    });
    app.post("/form", (_req, res) => res.send("read"));
    app.get("/bug", () => {
      throw new Error("a bug");
    });
    app.use(notFound);
    app.use(consoleErrors(log));
    server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const page = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${base}${path}`, init);
    return { status: res.status, text: await res.text() };
  };

  it("answers a refused price change with its code's status, in the signed-in frame", async () => {
    const { status, text } = await page("/change", { method: "POST" });
    expect(status).toBe(PRICE_CHANGE_STATUS.prices_changed);
    expect(status).toBe(409);
    expect(text).toContain('data-code="prices_changed"');
    expect(text).toContain("tester");
  });

  it("answers a form the body parser refuses as bad_form with the parser's 4xx", async () => {
    const form = { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" } };
    const { status, text } = await page("/form", { ...form, body: `a=${"x".repeat(100)}` });
    expect(status).toBe(413);
    expect(text).toContain('data-code="bad_form"');
  });

  it("answers anything else 500 and logs it, and an unknown page 404", async () => {
    const { status, text } = await page("/bug");
    expect(status).toBe(500);
    expect(text).toContain('data-code="internal_error"');
    expect(logged.join("")).toContain("a bug");
    const missing = await page("/nowhere");
    expect(missing.status).toBe(404);
    expect(missing.text).toContain('data-code="not_found"');
  });
});
