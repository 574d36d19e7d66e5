import { defineConfig } from "vitest/config";

const workspaces = "{l402,gateway,llm-backend,agent-client}";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: [`${workspaces}/src/**/*.test.ts`],
        },
      },
      {
        test: {
          name: "regtest",
          include: ["test/**/*.test.ts"],
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
