export { ApiError, type ApiErrorBody } from "./api/api-error.js";
export { type Config, ConfigError, type ConfigInput, configSchema, parseCli, parseConfig } from "./config.js";
export { createLogger, type RunningServer, type StartOptions, startServer } from "./http/server.js";
export {
  cacheRoot,
  DEFAULT_MODEL,
  defaultModelPath,
  MODEL_FETCH_COMMAND,
  modelsDir,
} from "./inference/default-model.js";
export type { GenerationResult, Timings } from "./inference/inference.js";
export { ModelNotFoundError, resolveModelPath } from "./inference/model.js";
export { fetchDefaultModel, sha256OfFile } from "./inference/model-fetch.js";
export { METRIC_PREFIX } from "./metrics.js";
export type { HealthReport } from "./scheduling/service.js";
