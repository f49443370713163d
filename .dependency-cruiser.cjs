/**
 * Architecture rules (docs/architecture.md): protocol ← actors ← runtime ← drivers, dashboard ←
 * cli/main.
 * `npm run lint` fails on any violation and on any import cycle.
 */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "no import cycles",
      from: {},
      to: { circular: true },
    },
    {
      name: "actors-are-pure",
      severity: "error",
      comment: "src/actors imports only xstate, croner and src/protocol (and itself)",
      from: { path: "^src/actors/" },
      to: {
        pathNot: [
          "^src/actors/",
          "^src/protocol/",
          "^node_modules/xstate/",
          "^node_modules/@xstate/",
          // Cron expressions and time zones: pure computation.
          "^node_modules/croner/",
        ],
      },
    },
    {
      name: "protocol-is-zod-only",
      severity: "error",
      comment: "src/protocol depends on zod only",
      from: { path: "^src/protocol/" },
      to: { pathNot: ["^src/protocol/", "^node_modules/zod/"] },
    },
    {
      name: "nats-only-in-runtime",
      severity: "error",
      comment: "only src/runtime talks to NATS",
      from: { path: "^src/", pathNot: "^src/runtime/" },
      to: { path: "^node_modules/@nats-io/" },
    },
    {
      name: "runtime-below-cli",
      severity: "error",
      comment: "the runtime never depends on the CLI or the composition root",
      from: { path: "^src/(runtime|actors|protocol|drivers|dashboard)/" },
      to: { path: "^src/(cli/|main\\.ts)" },
    },
    {
      name: "dashboard-above-runtime",
      severity: "error",
      comment: "the dashboard serves what the runtime's client asks; nothing below depends on it",
      from: { path: "^src/(runtime|actors|protocol|drivers)/" },
      to: { path: "^src/dashboard/" },
    },
    {
      name: "docker-only-in-drivers",
      severity: "error",
      comment: "only src/drivers (and the CLI that starts them) talks to Docker",
      from: { path: "^src/(runtime|actors|protocol)/" },
      to: { path: "^(node_modules/dockerode/|src/drivers/)" },
    },
    {
      name: "src-not-test",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^test/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
    },
  },
};
