export { ApiError, type ApiErrorBody } from "./api-error.js";
export { type Config, ConfigError, type ConfigInput, configSchema, parseCli, parseConfig } from "./config.js";
export { cacheRoot, DEFAULT_MODEL, defaultModelPath, MODEL_FETCH_COMMAND, modelsDir } from "./default-model.js";
export type { GenerationResult, Timings } from "./inference.js";
export { METRIC_PREFIX } from "./metrics.js";
export { ModelNotFoundError, resolveModelPath } from "./model.js";
export { fetchDefaultModel, sha256OfFile } from "./model-fetch.js";
export { createLogger, type RunningServer, type StartOptions, startServer } from "./server.js";
export type { HealthReport } from "./service.js";
