import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // TZ: PBS prints times in the server's local time (shared/pbs/time.ts); pinned so the
    // formatted strings tests compare do not depend on the machine's zone
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", TZ: "UTC" },
    // Integration tests start DynamoDB Local and child processes: one file at a time keeps a
    // 2-core machine from timing out, and unit tests are fast either way.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
