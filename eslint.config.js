import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      ".tools/",
      ".drover/",
      "dist/",
      "coverage/",
      "schema/",
      ".dependency-cruiser.cjs",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "off",
      // Handlers and API routes are async by contract even when one body needs no await.
      "@typescript-eslint/require-await": "off",
    },
  },
  {
    files: ["**/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: "readonly", console: "readonly", URL: "readonly" },
    },
  },
  {
    // The dashboard's page runs in the browser.
    files: ["src/dashboard/assets/**/*.js"],
    languageOptions: {
      sourceType: "module",
      globals: Object.fromEntries(
        [
          "window",
          "document",
          "location",
          "fetch",
          "EventSource",
          "FormData",
          "URLSearchParams",
          "Node",
          "CSS",
          "confirm",
          "setTimeout",
          "setInterval",
        ].map((g) => [g, "readonly"]),
      ),
    },
  },
  {
    // Machines and strategies are pure: xstate and the protocol only (docs/architecture.md).
    files: ["src/actors/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["node:*", "@nats-io/*", "pino", "pino-*"],
              message: "src/actors is pure: import only xstate and src/protocol.",
            },
            {
              group: ["../runtime/*", "../runtime", "../../runtime/*", "../main*", "../../main*"],
              message: "actors must not depend on the runtime.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["src/protocol/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["node:*", "@nats-io/*", "pino", "xstate", "../actors/*", "../runtime/*"],
              message: "src/protocol depends on zod only.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["test/**/*.ts", "bin/**/*.js", "scripts/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
);
