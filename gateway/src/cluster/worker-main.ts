// The script the primary forks for each worker of `--workers N`.
import { runWorker } from "./worker.js";

runWorker().catch((error: unknown) => {
  console.error(`l402-gateway worker: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
