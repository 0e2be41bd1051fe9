// Integration tests: the client from Node against the real wavecast binary (see test/server.ts).
import { defineConfig } from 'vitest/config';

const major = Number(process.versions.node.split('.')[0]);

export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    // Node 20 has a global WebSocket only behind this flag; Node 22+ has it by default.
    pool: 'forks',
    poolOptions: { forks: { execArgv: major < 22 ? ['--experimental-websocket'] : [] } },
    fileParallelism: false,
    testTimeout: 30000,
    hookTimeout: 30000,
  },
});
