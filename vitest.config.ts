import { defineConfig } from "vitest/config";

// Two projects: `unit` is pure (no network, no containers, seconds);
// `integration` runs real nats-server containers through testcontainers.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/fixtures/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Containers are heavy on a 2-core machine: a few files at a time.
          maxWorkers: 2,
          // No retries: a test that fails once is a bug to fix (a hang is a product bug);
          // tests wait on events, with bounds that hold on a loaded 2-core machine.
          fileParallelism: true,
        },
      },
      {
        test: {
          // Long runs that prove something only by running long (`npm run test:stress`).
          name: "stress",
          include: ["test/stress/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/fixtures/global-setup.ts"],
          testTimeout: 1_800_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "chaos",
          include: ["test/chaos/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/fixtures/global-setup.ts"],
          testTimeout: 360_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
