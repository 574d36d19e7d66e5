import { afterEach, describe, expect, it } from "vitest";
import { type InvoiceClass, InvoicePool, type InvoicePoolOptions } from "./invoice-pool.js";
import { type CreatedInvoice, type InvoiceBackend, LightningUnavailableError } from "./invoices.js";

/** A node double: numbered invoices that name their amount; calls wait until released when `manual`. */
class FakeNode implements InvoiceBackend {
  calls = 0;
  created = 0;
  inFlight = 0;
  maxInFlight = 0;
  failing = false;
  manual = false;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly now: () => number) {}

  async createInvoice(args: InvoiceClass): Promise<CreatedInvoice> {
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.manual) await new Promise<void>((release) => this.waiting.push(release));
      if (this.failing) throw new LightningUnavailableError("node down");
      const n = ++this.created;
      return {
        paymentHash: n.toString(16).padStart(64, "0"),
        request: `lnbcrt${args.sats}-${n}`,
        expiresAt: new Date(this.now() + args.expirySeconds * 1000),
      };
    } finally {
      this.inFlight--;
    }
  }

  /** Lets every waiting call finish, then lets the pool react. */
  async release(): Promise<void> {
    for (const release of this.waiting.splice(0)) release();
    await settle();
  }

  async lookupSettlement() {
    return undefined;
  }
  subscribeSettlements() {
    return () => {};
  }
  async ping() {}
}

/** Lets promise chains started by the pool run to their end. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const FIVE: InvoiceClass = { sats: 5, memo: "L402 access to weather", expirySeconds: 600 };
const OPTIONS: InvoicePoolOptions = {
  size: 3,
  maxAgeSeconds: 60,
  concurrency: 2,
  maxClasses: 4,
  maxInvoices: 100,
  idleSeconds: 600,
};

const pools: InvoicePool[] = [];
afterEach(() => {
  for (const pool of pools.splice(0)) pool.close();
});

function setup(options: Partial<InvoicePoolOptions> = {}) {
  const clock = { now: 1_000_000 };
  const node = new FakeNode(() => clock.now);
  const counts = { hit: 0, miss: 0, expired: 0 };
  const pool = new InvoicePool(
    node,
    { ...OPTIONS, ...options },
    {
      hit: () => counts.hit++,
      miss: () => counts.miss++,
      expired: (n) => {
        counts.expired += n;
      },
    },
    () => clock.now,
  );
  pools.push(pool);
  return { clock, node, counts, pool };
}

describe("invoice pool", () => {
  it("hands out pre-created invoices, refills behind them, and goes to the node when empty", async () => {
    const { node, counts, pool } = setup();
    pool.warm([FIVE]);
    await settle();
    expect(pool.size).toBe(3);
    expect(node.created).toBe(3);

    node.manual = true;
    const first = await pool.createInvoice(FIVE);
    expect(first.request).toMatch(/^lnbcrt5-/);
    expect(counts).toMatchObject({ hit: 1, miss: 0 });
    await pool.createInvoice(FIVE);
    await pool.createInvoice(FIVE);
    expect(counts).toMatchObject({ hit: 3, miss: 0 });
    // Empty (its refills are still at the node): the call goes to the node itself.
    const direct = pool.createInvoice(FIVE);
    await settle();
    await node.release();
    expect((await direct).request).toMatch(/^lnbcrt5-/);
    expect(counts).toMatchObject({ hit: 3, miss: 1 });
    await node.release();
    expect(pool.size).toBe(3);
  });

  it("never hands out one invoice twice, also to concurrent callers", async () => {
    const { node, pool } = setup({ size: 10, concurrency: 4 });
    pool.warm([FIVE]);
    await settle();
    const handedOut = await Promise.all(Array.from({ length: 40 }, () => pool.createInvoice(FIVE)));
    await settle();
    const hashes = handedOut.map((i) => i.paymentHash);
    expect(new Set(hashes).size).toBe(40);
    // Every invoice the node made is either handed out once or still ready.
    expect(node.created).toBe(40 + pool.size);
  });

  it("drops an invoice older than maxAgeSeconds and never hands out one with less life left than expiry - maxAge", async () => {
    const { clock, node, counts, pool } = setup({ size: 1 });
    pool.warm([FIVE]);
    await settle();
    expect(pool.size).toBe(1);
    node.manual = true; // the refill after the drop stays at the node
    clock.now += 60_000;
    const invoice = pool.createInvoice(FIVE);
    await settle();
    await node.release();
    const got = await invoice;
    expect(counts).toMatchObject({ hit: 0, miss: 1, expired: 1 });
    expect(got.expiresAt.getTime() - clock.now).toBe(600_000);

    clock.now += 59_999;
    node.manual = false;
    await node.release();
    expect(pool.size).toBe(1);
    const fromPool = await pool.createInvoice(FIVE);
    expect(counts.hit).toBe(1);
    expect(fromPool.expiresAt.getTime() - clock.now).toBeGreaterThanOrEqual((600 - 60) * 1000);
  });

  it("keeps at most `concurrency` refill calls at the node", async () => {
    const { node, pool } = setup({ size: 8, concurrency: 2 });
    node.manual = true;
    pool.warm([FIVE, { ...FIVE, sats: 7 }]);
    await settle();
    expect(node.inFlight).toBe(2);
    for (let i = 0; i < 10; i++) await node.release();
    expect(node.maxInFlight).toBe(2);
    expect(pool.size).toBe(16);
  });

  it("keys by amount: an amount it was not told of is made on demand, never handed out at another", async () => {
    const { node, counts, pool } = setup();
    pool.warm([FIVE]);
    await settle();
    const seven = { ...FIVE, sats: 7 };
    const first = await pool.createInvoice(seven);
    expect(first.request).toMatch(/^lnbcrt7-/);
    expect(counts).toMatchObject({ hit: 0, miss: 1 });
    await settle();
    for (let i = 0; i < 6; i++) expect((await pool.createInvoice(seven)).request).toMatch(/^lnbcrt7-/);
    // Expiry and memo are part of the class too.
    expect((await pool.createInvoice({ ...FIVE, expirySeconds: 300 })).expiresAt.getTime()).toBeLessThan(
      first.expiresAt.getTime(),
    );
    await settle();
    expect(counts).toMatchObject({ hit: 0, miss: 8 });
    expect(node.created).toBe(3 + 8);
  });

  it("never pools what unpaid clients ask for: one invoice per request, however often an amount is asked", async () => {
    const { node, counts, pool } = setup({ size: 50, maxClasses: 16 });
    pool.warm([FIVE]);
    await settle();
    expect(node.created).toBe(50);
    const odd = [101, 103, 107, 109, 113, 127, 131, 137];
    for (const sats of [...odd, ...odd, ...odd]) await pool.createInvoice({ ...FIVE, sats });
    (pool as unknown as { sweep(): void }).sweep();
    await settle();
    expect(counts).toMatchObject({ hit: 0, miss: 24 });
    expect(node.created).toBe(50 + 24);
    expect(pool.size).toBe(50);
    // The operator's class was never evicted by them: it still hands out ready invoices.
    await pool.createInvoice(FIVE);
    expect(counts.hit).toBe(1);
  });

  it("holds at most maxInvoices over all classes, and pools at most maxClasses classes", async () => {
    const { node, counts, pool } = setup({ size: 10, maxClasses: 3, maxInvoices: 25, concurrency: 4 });
    const classes = [5, 6, 7, 8].map((sats) => ({ ...FIVE, sats }));
    pool.warm(classes);
    await settle();
    expect(pool.size).toBe(25);
    expect(node.created).toBe(25);
    // The fourth class was not pooled: on demand.
    await pool.createInvoice({ ...FIVE, sats: 8 });
    expect(counts).toMatchObject({ hit: 0, miss: 1 });
    // Taking one frees room for one refill, no more.
    await pool.createInvoice(FIVE);
    await settle();
    expect(pool.size).toBe(25);
    expect(node.created).toBe(25 + 1 + 1);
  });

  it("stops refilling a class nobody asked for in idleSeconds, and resumes when it is asked again", async () => {
    const { clock, node, counts, pool } = setup({ size: 2, idleSeconds: 100 });
    const six = { ...FIVE, sats: 6 };
    pool.warm([FIVE, six]);
    await settle();
    expect(node.created).toBe(4);
    clock.now += 50_000;
    await pool.createInvoice(six); // a hit, refilled; six stays asked for
    await settle();
    expect(counts).toMatchObject({ hit: 1, miss: 0 });
    expect(node.created).toBe(5);
    clock.now += 60_000; // FIVE is idle now; every ready invoice has reached maxAgeSeconds
    (pool as unknown as { sweep(): void }).sweep();
    await settle();
    expect(node.created).toBe(5 + 2); // only the 6-sat class refilled
    await pool.createInvoice(FIVE); // asked again: a miss, and refilled from then on
    await settle();
    expect(counts).toMatchObject({ hit: 1, miss: 1 });
    expect(node.created).toBe(7 + 1 + 2);
  });

  it("passes the node's error through when empty, and backs off refills while the node fails", async () => {
    const { node, counts, pool } = setup();
    node.failing = true;
    pool.warm([FIVE]);
    await expect(pool.createInvoice(FIVE)).rejects.toBeInstanceOf(LightningUnavailableError);
    await settle();
    // One wave of refills that failed and paused the pool, and the failed call itself.
    expect(node.calls).toBe(1 + OPTIONS.concurrency);
    await settle();
    expect(node.calls).toBe(1 + OPTIONS.concurrency);
    expect(counts.miss).toBe(1);
    node.failing = false;
    await expect.poll(() => pool.size, { timeout: 5_000 }).toBe(OPTIONS.size);
  });
});
