import { describe, expect, it } from "vitest";
import { browseOf, listUrl, parseTokenQuery, type TokenQuery } from "./token-query.js";

const SERVICES = ["echo", "llm"];
const parse = (raw: Record<string, unknown>) => parseTokenQuery(raw, SERVICES);
const query = (raw: Record<string, unknown>): TokenQuery => {
  const parsed = parse(raw);
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  return parsed.query;
};

describe("the token list's query", () => {
  it("defaults to the newest 25 tokens of every service, and treats empty filters as none", () => {
    const defaults = query({});
    expect(defaults).toEqual({ q: "", sort: "created", order: "desc", size: 25, page: 1 });
    expect(query({ service: "", status: "", scheme: "", sort: "", order: "", size: "", page: "" })).toEqual(defaults);
    expect(browseOf(defaults)).toEqual({ sort: "created", order: "desc", limit: 25, offset: 0 });
    expect(listUrl(defaults)).toBe("/console/tokens");
  });

  it("reads filters, a sort and a page into the store's request and back into a URL", () => {
    const raw = {
      service: "llm",
      status: "paid",
      scheme: "payment",
      sort: "used",
      order: "asc",
      size: "50",
      page: "3",
    };
    const parsed = query(raw);
    expect(browseOf(parsed)).toEqual({
      service: "llm",
      status: "paid",
      scheme: "payment",
      sort: "used",
      order: "asc",
      limit: 50,
      offset: 100,
    });
    const url = new URL(listUrl(parsed, { page: 4 }), "http://console");
    expect(query(Object.fromEntries(url.searchParams))).toEqual({ ...parsed, page: 4 });
  });

  it.each([
    [{ service: "weather" }, "service: one of echo, llm"],
    [{ status: "active" }, "status: issued, paid or revoked"],
    [{ scheme: "lsat" }, "scheme: l402 or payment"],
    [{ sort: "price" }, "sort: one of created, paid, balance, used"],
    [{ order: "up" }, "order: asc or desc"],
    [{ size: "1000" }, "size: one of 10, 25, 50, 100"],
    [{ size: "7" }, "size: one of 10, 25, 50, 100"],
    [{ size: "-1" }, "size: a whole number"],
    [{ page: "0" }, "page: at least 1"],
    [{ page: "10001" }, "page: at most 10000"],
    [{ page: "1e3" }, "page: a whole number"],
    [{ colour: "red" }, "unknown parameter: colour"],
    [{ page: ["1", "2"] }, "page: give it once, as text"],
    [{ sort: { $ne: 1 } }, "sort: give it once, as text"],
  ])("refuses %o: %s", (raw, problem) => {
    expect(parse(raw)).toEqual({ ok: false, problems: [problem] });
  });
});
