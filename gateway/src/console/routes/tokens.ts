import express, { type Request, type Response, type Router } from "express";
import { html } from "../html.js";
import { page, SECURITY_HEADERS, sendErrorPage, sendPage } from "../layout.js";
import { refundOf } from "../refunds.js";
import { browseOf, parseTokenQuery } from "../token-query.js";
import { renderSearch, renderToken, renderTokenList } from "../tokens-page.js";
import { type ConsoleContext, frame, locals } from "./context.js";

/** A token id or payment hash as the console takes them. */
const HEX64 = /^[0-9a-f]{64}$/;

/** Tokens: the browser and search, one token's page, and revocation. */
export function tokenRoutes({ parts, serviceNames }: ConsoleContext): Router {
  const { store, log } = parts;
  const router = express.Router();

  router.get("/tokens", async (req, res) => {
    const parsed = parseTokenQuery(req.query as Record<string, unknown>, serviceNames);
    if (!parsed.ok) {
      const message = `The token list cannot show that: ${parsed.problems.join("; ")}.`;
      if (req.accepts(["html", "json"]) === "json") {
        res.status(400).set(SECURITY_HEADERS).json({ code: "invalid_query", message, problems: parsed.problems });
        return;
      }
      sendErrorPage(res, 400, "invalid_query", message, frame(res, "tokens"));
      return;
    }
    const { query } = parsed;
    const search = query.q.trim().toLowerCase();
    const list = await store.browseTokens(browseOf(query));
    const show = (status: number, found?: Parameters<typeof renderSearch>[1], problem?: string) => {
      const body = html`${renderSearch(search, found, problem)}${renderTokenList(query, list, serviceNames)}`;
      sendPage(res, status, page({ title: "Tokens", signedIn: frame(res, "tokens") }, body));
    };
    if (search === "") return show(200);
    if (!HEX64.test(search)) return show(400, undefined, "A token id or payment hash is 64 hexadecimal digits.");
    const byId = await store.getToken(search);
    show(200, byId ? [byId] : await store.listTokens({ paymentHash: search, limit: 10 }));
  });

  const tokenPage = async (res: Response, tokenId: string, notice?: string) => {
    const token = await store.getToken(tokenId);
    if (!token) {
      sendErrorPage(res, 404, "unknown_token", `No token ${tokenId}.`, frame(res, "tokens"));
      return;
    }
    const [charges, refund] = await Promise.all([store.chargesOf(tokenId, 50), refundOf(store, tokenId)]);
    const body = renderToken(token, { charges, refund }, locals(res).session.csrfToken, notice);
    sendPage(res, 200, page({ title: "Token", signedIn: frame(res, "tokens") }, body));
  };

  /** The token id of the URL; undefined once a 400 page has been sent. */
  const tokenIdOf = (req: Request, res: Response) => {
    const tokenId = String(req.params.tokenId);
    if (HEX64.test(tokenId)) return tokenId;
    sendErrorPage(res, 400, "invalid_token_id", "A token id is 64 lowercase hex digits.", frame(res, "tokens"));
    return undefined;
  };

  router.get("/tokens/:tokenId", async (req, res) => {
    const tokenId = tokenIdOf(req, res);
    if (!tokenId) return;
    await tokenPage(res, tokenId);
  });

  router.post("/tokens/:tokenId/revoke", async (req, res) => {
    const tokenId = tokenIdOf(req, res);
    if (!tokenId) return;
    const revoked = await store.revoke(tokenId, new Date());
    if (!revoked) return sendErrorPage(res, 404, "unknown_token", `No token ${tokenId}.`, frame(res, "tokens"));
    log.info({ who: locals(res).session.who, tokenId }, "console: token revoked");
    await tokenPage(res, tokenId, "Revoked: the gateway refuses this token from now on.");
  });
  return router;
}
