import cluster, { type Worker } from "node:cluster";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import express, { type Request, type Response } from "express";
import type { Logger } from "pino";
import { AggregatorRegistry } from "prom-client";
import { readAdminSecret } from "../config/load.js";
import type { GatewayConfig } from "../config/schema.js";
import { sendJsonError } from "../http/errors.js";
import { closeServer, listen } from "../http/listen.js";
import { createLogger } from "../logging/logger.js";
import { openStore } from "../store/open.js";
import { readMessage, type WorkerMessage } from "./messages.js";

export interface ClusterOptions {
  readonly workers: number;
  /** The config file, which each worker watches for pricing changes (reading it only). */
  readonly configPath?: string;
  readonly log?: Logger;
}

export interface RunningCluster {
  /** The public listener every worker shares. */
  readonly url: string;
  /** The primary's operator listener: /metrics summed over the workers, /healthz and /readyz asked of one. */
  readonly operatorUrl: string;
  /** The admin API, served by the leader worker. */
  readonly adminUrl: string | undefined;
  /** The live workers' process ids, leader first. */
  pids(): number[];
  /** Each listening worker's own operator listener (its metrics alone), leader first: for inspection and tests. */
  workerOperatorUrls(): string[];
  /** Resolves once every slot has a listening worker (after a restart). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

type Listening = Extract<WorkerMessage, { type: "l402:listening" }>;

interface Slot {
  readonly leader: boolean;
  owner: string;
  worker?: Worker;
  listening?: Listening;
  startedAt: number;
  restartDelayMs: number;
}

const MIN_RESTART_MS = 250;
const MAX_RESTART_MS = 30_000;
/** A worker that lived this long was healthy: its replacement starts at once. */
const HEALTHY_AFTER_MS = 10_000;
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * The worker's entry script, `worker.ts` at the package's root (a composition root, like the CLI): compiled JS, or
 * TypeScript when run from source through tsx.
 */
function workerScript(): { exec: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  return { exec: join(dirname(here), "..", `worker${ext}`), execArgv: ext === ".ts" ? process.execArgv : [] };
}

/**
 * `--workers N`: forks N workers sharing the public port (node:cluster hands connections to them in turn), restarts a
 * worker that dies, and runs what must run once per host. Worker 1 is the leader: it watches LND's settlements
 * and serves the admin API; its replacement after a crash takes both over, resuming from the stored settle index.
 * Before the first fork the primary releases reservations a stopped host left in the store, and after a worker dies
 * it releases that worker's: no live worker's reservation is ever released.
 */
export async function startCluster(config: GatewayConfig, options: ClusterOptions): Promise<RunningCluster> {
  const log = options.log ?? createLogger(config.log, { sharedOutput: true });
  if (config.admin) readAdminSecret(config.admin); // a weak secret stops the start here, not in every worker
  const store = await openStore(config.store, `primary-${randomUUID()}`);
  const released = await store.releaseStaleReservations(new Date());
  if (released > 0) log.warn({ released }, "released reservations left by a stopped gateway");
  const aggregator = new AggregatorRegistry();
  cluster.setupPrimary({ ...workerScript(), args: [] });

  const slots: Slot[] = Array.from({ length: options.workers }, (_, i) => ({
    leader: i === 0,
    owner: randomUUID(),
    startedAt: 0,
    restartDelayMs: MIN_RESTART_MS,
  }));
  let stopping = false;
  let waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  let starting = true;
  const allListening = () => slots.every((slot) => slot.listening !== undefined);
  const settleWaiters = (error?: Error) => {
    for (const waiter of waiters.splice(0)) error ? waiter.reject(error) : waiter.resolve();
  };

  const fork = (slot: Slot) => {
    const worker = cluster.fork();
    slot.worker = worker;
    slot.listening = undefined;
    slot.startedAt = Date.now();
    worker.on("message", (raw: unknown) => {
      const message = readMessage(raw);
      if (message?.type === "l402:hello") {
        const start: WorkerMessage = {
          type: "l402:start",
          config,
          leader: slot.leader,
          storeOwner: slot.owner,
          ...(options.configPath ? { configPath: options.configPath } : {}),
        };
        worker.send(start);
      } else if (message?.type === "l402:listening") {
        slot.listening = message;
        log.info({ workerPid: worker.process.pid, leader: slot.leader }, "worker listening");
        if (allListening()) settleWaiters();
      } else if (message?.type === "l402:prices") {
        for (const other of slots) if (other !== slot) other.worker?.send(message);
      }
    });
    worker.once("exit", (code, signal) => void onExit(slot, worker, code, signal));
  };

  const onExit = async (slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.listening = undefined;
    if (stopping) return;
    log.error({ workerPid: worker.process.pid, code, signal, leader: slot.leader }, "worker died");
    if (starting) {
      settleWaiters(new Error(`a worker exited (code ${code}, signal ${signal}) before it listened; see its log`));
      return;
    }
    // Its in-flight requests died with it: their reservations are released, charging nothing.
    try {
      const freed = await store.releaseReservationsOf(slot.owner, new Date());
      if (freed > 0) log.warn({ released: freed }, "released the reservations of a dead worker");
    } catch (error) {
      log.error({ err: (error as Error).message }, "could not release a dead worker's reservations");
    }
    slot.owner = randomUUID();
    const lived = Date.now() - slot.startedAt;
    slot.restartDelayMs = lived > HEALTHY_AFTER_MS ? MIN_RESTART_MS : Math.min(slot.restartDelayMs * 2, MAX_RESTART_MS);
    setTimeout(() => {
      if (!stopping) fork(slot);
    }, slot.restartDelayMs).unref();
  };

  const ready = () =>
    allListening() ? Promise.resolve() : new Promise<void>((resolve, reject) => waiters.push({ resolve, reject }));

  const stopWorkers = async () => {
    stopping = true;
    await Promise.all(
      slots.map(async (slot) => {
        const worker = slot.worker;
        if (!worker || worker.isDead()) return;
        const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
        if (worker.isConnected()) worker.send({ type: "l402:shutdown" } satisfies WorkerMessage);
        const timer = setTimeout(() => worker.process.kill("SIGKILL"), SHUTDOWN_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
  };

  for (const slot of slots) fork(slot);
  try {
    await ready();
  } catch (error) {
    await stopWorkers();
    await store.close();
    throw error;
  }
  starting = false;

  const anyOperator = () => slots.find((slot) => slot.listening)?.listening?.operatorUrl;
  const askWorker = (path: string) => async (_req: Request, res: Response) => {
    const target = anyOperator();
    if (!target) {
      sendJsonError(res, 503, "no_workers", "no worker is listening");
      return;
    }
    try {
      const answer = await fetch(`${target}${path}`);
      res
        .status(answer.status)
        .type("application/json")
        .send(await answer.text());
    } catch (error) {
      sendJsonError(res, 503, "no_workers", `no worker answered: ${(error as Error).message}`);
    }
  };
  const operatorApp = express();
  operatorApp.disable("x-powered-by");
  operatorApp.get("/healthz", askWorker("/healthz"));
  operatorApp.get("/readyz", askWorker("/readyz"));
  operatorApp.get("/metrics", async (_req, res) => {
    try {
      const text = await aggregator.clusterMetrics();
      res.setHeader("content-type", aggregator.contentType);
      res.end(text);
    } catch (error) {
      sendJsonError(res, 503, "metrics_unavailable", `workers did not answer: ${(error as Error).message}`);
    }
  });
  const operator = createServer(operatorApp);
  const operatorUrl = await listen(operator, config.operator.port, config.operator.host);
  const first = slots[0]?.listening;
  if (!first) throw new Error("no worker listening");
  let closed: Promise<void> | undefined;
  log.info({ url: first.url, operatorUrl, workers: options.workers }, "gateway listening with several workers");

  return {
    url: first.url,
    operatorUrl,
    adminUrl: first.adminUrl,
    pids: () => slots.flatMap((slot) => (slot.worker?.process.pid ? [slot.worker.process.pid] : [])),
    workerOperatorUrls: () => slots.flatMap((slot) => (slot.listening ? [slot.listening.operatorUrl] : [])),
    ready,
    close: () => {
      closed ??= (async () => {
        await stopWorkers();
        waiters = [];
        await closeServer(operator);
        await store.close();
      })();
      return closed;
    },
  };
}
