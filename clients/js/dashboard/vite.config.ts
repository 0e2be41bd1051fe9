// Builds the dashboard into crates/wavecast/assets/dashboard with fixed names
// (index.html, app.js, app.css) so that the binary can embed them. The
// output must be byte-for-byte reproducible: `npm run check:dashboard`
// rebuilds it and compares. DASHBOARD_OUT_DIR overrides the output directory.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  logLevel: 'warn',
  resolve: {
    alias: [
      { find: /^wavecast\/react$/, replacement: here('../src/react/index.ts') },
      { find: /^wavecast$/, replacement: here('../src/index.ts') },
    ],
  },
  // No React plugin: esbuild compiles the JSX with the automatic runtime.
  esbuild: { jsx: 'automatic', jsxImportSource: 'react' },
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  build: {
    outDir: process.env.DASHBOARD_OUT_DIR ?? here('../../../crates/wavecast/assets/dashboard'),
    emptyOutDir: true,
    target: 'es2022',
    cssCodeSplit: false,
    modulePreload: false,
    sourcemap: false,
    reportCompressedSize: false,
    assetsInlineLimit: 0,
    rollupOptions: {
      output: {
        entryFileNames: 'app.js',
        chunkFileNames: 'app-[name].js',
        assetFileNames: (info) => (info.names?.some((n) => n.endsWith('.css')) ? 'app.css' : '[name][extname]'),
        inlineDynamicImports: true,
      },
    },
  },
});
