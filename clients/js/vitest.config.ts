// Unit tests (fake WebSocket) and hook tests (React Testing Library on happy-dom).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/react/**/*.test.tsx'],
    environment: 'node',
    testTimeout: 10000,
  },
});
