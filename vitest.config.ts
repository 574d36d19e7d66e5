import { configDefaults, defineConfig } from "vitest/config";

const workspaces = "{l402,gateway,llm-backend,agent-client}";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          // Projects run one group after another: the llm tests' decoding must not share the 2 cores with lnd.
          sequence: { groupOrder: 0 },
          include: [`${workspaces}/src/**/*.test.ts`],
          // llm-backend's tests load a real model: they run in the "llm" project below.
          exclude: [...configDefaults.exclude, "llm-backend/**"],
        },
      },
      {
        test: {
          name: "llm",
          sequence: { groupOrder: 1 },
          include: ["llm-backend/src/**/*.test.ts"],
          // Each file loads the default model once (CPU, about 2 s); files run one at a time so one file's
          // decoding does not slow another's (llama.cpp slows down far more than linearly on shared cores).
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "integration",
          sequence: { groupOrder: 2 },
          // Whole gateways with invoices faked and upstreams in-process: no Lightning network needed.
          include: ["test/gateway/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "regtest",
          sequence: { groupOrder: 3 },
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, "test/gateway/**"],
          // One real Lightning network (btcd + alice + bob) for the whole run.
          globalSetup: ["test/regtest/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Tests share one network; running files one at a time keeps balance assertions exact.
          fileParallelism: false,
        },
      },
    ],
  },
});
