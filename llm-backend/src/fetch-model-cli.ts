#!/usr/bin/env node
import { fetchDefaultModel } from "./inference/model-fetch.js";

fetchDefaultModel((message) => console.log(`[model:fetch] ${message}`)).catch((error: unknown) => {
  console.error(`[model:fetch] failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
