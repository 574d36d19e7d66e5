import pg from "pg";

export const REVOCATION_CHANNEL = "l402_revocations";

/**
 * Holds one connection that LISTENs for revocations made by any replica (or the CLI) and reconnects when it drops.
 * `onListening(true)` once notifications flow, `onListening(false)` when they may be missed.
 */
export class RevocationListener {
  private client: pg.Client | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private backoffMs = 250;

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly onRevoked: (tokenId: string) => void,
    private readonly onListening: (listening: boolean) => void,
  ) {}

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client(this.clientConfig);
    this.client = client;
    const lost = () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.onListening(false);
      client.end().catch(() => {});
      this.scheduleRetry();
    };
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (message) => {
      if (message.channel === REVOCATION_CHANNEL) this.onRevoked(message.payload ?? "");
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
      if (this.stopped || this.client !== client) {
        await client.end().catch(() => {});
        return;
      }
      this.backoffMs = 250;
      this.onListening(true);
    } catch {
      lost();
    }
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, this.backoffMs);
    this.retryTimer.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, 5_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    this.onListening(false);
    await client?.end().catch(() => {});
  }
}
