/** What the gateway reported for a metered call: its cost and the balance left, in msat. */
export interface CallCost {
  readonly costMsat: number;
  readonly balanceMsat: number;
}

const SSE_COST = /: l402 cost_msat=(\d+) balance_msat=(\d+)/;

/**
 * Wraps a fetch to read the gateway's cost reports: the X-L402-Cost-Msat and X-L402-Balance-Msat headers, or, on a
 * stream, the final `: l402 cost_msat=… balance_msat=…` comment (which SSE clients such as the openai SDK skip).
 */
export function watchCosts() {
  let latest: CallCost | undefined;
  const wrap =
    (inner: (input: string | URL | Request, init?: RequestInit) => Promise<Response>) =>
    async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const response = await inner(input, init);
      const cost = response.headers.get("x-l402-cost-msat");
      const balance = response.headers.get("x-l402-balance-msat");
      if (cost !== null && balance !== null) latest = { costMsat: Number(cost), balanceMsat: Number(balance) };
      if (!response.body || !response.headers.get("content-type")?.includes("text/event-stream")) return response;
      const decoder = new TextDecoder();
      let tail = "";
      const scan = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          tail = (tail + decoder.decode(chunk, { stream: true })).slice(-512);
          const match = SSE_COST.exec(tail);
          if (match) latest = { costMsat: Number(match[1]), balanceMsat: Number(match[2]) };
          controller.enqueue(chunk);
        },
      });
      return new Response(response.body.pipeThrough(scan), {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    };
  return { wrap, last: () => latest };
}
