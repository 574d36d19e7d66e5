#!/usr/bin/env node
// What npm links as `l402`. It exists before the build: npm links bins before `prepare` writes dist/.
import { existsSync } from "node:fs";

const cli = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(cli)) {
  console.error("l402 is not built yet: run `npm run build` at the repository root.");
  process.exit(1);
}
await import(cli.href);
