import { describe, expect, it } from "vitest";
import { renderOverview } from "./overview.js";

describe("overview rendering", () => {
  it("escapes names that agents choose (a model name) in text and attributes", () => {
    const model = `<img src=x onerror="alert(1)">`;
    const page = renderOverview({
      windows: [
        {
          id: "week",
          title: "last week",
          payments: [],
          charges: [{ service: "llm", model, chargedMsat: 5, requests: 1 }],
        },
      ],
      conversion: [],
      activeTokens: 0,
      outstandingMsat: 0,
      surge: [],
      health: { lnd: { ok: true }, store: { ok: false, error: "<b>disk</b>" } },
    }).text;
    expect(page).not.toContain("<img");
    expect(page).not.toContain("<b>disk");
    expect(page).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(page).toContain('data-figure="charged-week-llm-&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"');
  });
});
