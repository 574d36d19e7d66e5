import express, { type Router } from "express";
import { html } from "../html.js";
import { page, sendPage } from "../layout.js";
import { readOverview, renderOverview } from "../overview.js";
import { readSeries, renderSeries } from "../revenue-series.js";
import { type ConsoleContext, frame } from "./context.js";

/** The overview: money, traffic and health now, and the revenue series. */
export function overviewRoutes({ parts, serviceNames }: ConsoleContext): Router {
  const { config, store, book, metrics, backend } = parts;
  const router = express.Router();
  router.get("/", (_req, res) => res.redirect(303, "/console/overview"));
  router.get("/overview", async (_req, res) => {
    await parts.traffic?.flush();
    const [figures, series] = await Promise.all([
      readOverview({ services: config.services, store, book, metrics, backend }),
      readSeries(store, serviceNames),
    ]);
    const body = html`${renderOverview(figures)}${renderSeries(series)}`;
    sendPage(res, 200, page({ title: "Overview", signedIn: frame(res, "overview") }, body));
  });
  return router;
}
