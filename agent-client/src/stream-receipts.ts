import { PAYMENT_RECEIPT_EVENT, parseStreamPaymentReceipt, type StreamPaymentReceipt } from "@l402-gateway/l402";

const EVENT_END = /\r?\n\r?\n/;

/**
 * A Payment session's streamed answer with its `payment-receipt` events read and taken out (OpenAI-style stream
 * readers would take one for a chunk): each is handed to `onReceipt`, every other event passes unchanged, as soon
 * as it is complete. A receipt event that does not read is passed on as it came. Other answers are returned as
 * they are.
 */
export function readingStreamReceipts(
  response: Response,
  onReceipt: (receipt: StreamPaymentReceipt) => void,
): Response {
  if (response.body === null || !(response.headers.get("content-type") ?? "").includes("text/event-stream")) {
    return response;
  }
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = "";
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        pending += decoder.decode(chunk, { stream: true });
        for (let match = EVENT_END.exec(pending); match; match = EVENT_END.exec(pending)) {
          const end = match.index + match[0].length;
          const event = pending.slice(0, end);
          pending = pending.slice(end);
          const receipt = receiptOf(event);
          if (receipt) onReceipt(receipt);
          else controller.enqueue(encoder.encode(event));
        }
      },
      flush(controller) {
        pending += decoder.decode();
        if (pending !== "") controller.enqueue(encoder.encode(pending));
      },
    }),
  );
  const { status, statusText, headers } = response;
  return new Response(body, { status, statusText, headers });
}

function receiptOf(event: string): StreamPaymentReceipt | undefined {
  const lines = event.split(/\r?\n/);
  const name = lines
    .find((line) => line.startsWith("event:"))
    ?.slice(6)
    .trim();
  if (name !== PAYMENT_RECEIPT_EVENT) return undefined;
  const data = lines
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).replace(/^ /, ""))
    .join("\n");
  try {
    return parseStreamPaymentReceipt(data);
  } catch {
    return undefined;
  }
}
