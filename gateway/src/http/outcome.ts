/** How one request ended, for the request log and metrics: its status, and the code of a refusal. */
export interface Outcome {
  readonly status: number;
  readonly code?: string;
}
