import { formatStreamPaymentReceipt } from "@l402-gateway/l402";
import { describe, expect, it } from "vitest";
import { readingStreamReceipts } from "./stream-receipts.js";

const receipt = {
  status: "success" as const,
  method: "lightning" as const,
  timestamp: "2026-12-06T12:00:00Z",
  reference: "cd".repeat(32),
  spent: 3n,
  units: 1n,
};
const receiptData = formatStreamPaymentReceipt(receipt);

/** A streamed answer cut into the given pieces, as a network would deliver it. */
function streamed(pieces: readonly string[], contentType = "text/event-stream"): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const piece of pieces) controller.enqueue(encoder.encode(piece));
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": contentType } });
}

describe("readingStreamReceipts", () => {
  it("hands the payment-receipt event over and passes every other event unchanged, across chunk boundaries", async () => {
    const whole = `data: {"n":1}\n\n: l402 cost_msat=2500\n\nevent: payment-receipt\ndata: ${receiptData}\n\ndata: [DONE]\n\n`;
    const pieces = [whole.slice(0, 7), whole.slice(7, 60), whole.slice(60, 61), whole.slice(61)];
    const seen: unknown[] = [];
    const text = await readingStreamReceipts(streamed(pieces), (receipt) => seen.push(receipt)).text();
    expect(text).toBe('data: {"n":1}\n\n: l402 cost_msat=2500\n\ndata: [DONE]\n\n');
    expect(seen).toEqual([receipt]);
  });

  it("passes on a receipt event it cannot read, and leaves other answers alone", async () => {
    const bad = "event: payment-receipt\ndata: {}\n\n";
    const seen: unknown[] = [];
    expect(await readingStreamReceipts(streamed([bad]), (receipt) => seen.push(receipt)).text()).toBe(bad);
    const json = streamed([`event: payment-receipt\ndata: ${receiptData}\n\n`], "application/json");
    expect(readingStreamReceipts(json, (receipt) => seen.push(receipt))).toBe(json);
    expect(seen).toEqual([]);
  });
});
