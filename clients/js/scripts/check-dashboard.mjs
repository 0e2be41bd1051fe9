#!/usr/bin/env node
// Rebuilds the dashboard into a temporary directory and fails if it differs,
// file by file and byte by byte, from the committed bundle in
// crates/wavecast/assets/dashboard. The build must be deterministic. Then
// measures the committed bundle gzipped, and fails if the total is over the
// budget of issue 11 (150 KB, counted as 150,000 bytes).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, gzipSync } from 'node:zlib';

const GZIP_BUDGET = 150_000;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const committed = resolve(root, '../../crates/wavecast/assets/dashboard');
const out = mkdtempSync(join(tmpdir(), 'wavecast-dashboard-'));

try {
  const vite = join(root, 'node_modules/.bin/vite');
  const run = spawnSync(vite, ['build', '--config', 'dashboard/vite.config.ts'], {
    cwd: root,
    env: { ...process.env, DASHBOARD_OUT_DIR: out },
    stdio: 'inherit',
  });
  if (run.status !== 0) {
    console.error(`check:dashboard: the build failed (status ${run.status})`);
    process.exit(1);
  }
  const list = (dir) => readdirSync(dir).sort();
  const built = list(out);
  const have = list(committed);
  const problems = [];
  if (built.join() !== have.join()) problems.push(`files differ: built [${built}] vs committed [${have}]`);
  for (const name of built.filter((n) => have.includes(n))) {
    const a = readFileSync(join(out, name));
    const b = readFileSync(join(committed, name));
    if (!a.equals(b)) problems.push(`${name} differs (${a.length} bytes built, ${b.length} committed)`);
  }
  if (problems.length > 0) {
    console.error('check:dashboard: the committed bundle is not what the source builds:');
    for (const p of problems) console.error(`  - ${p}`);
    console.error('run `npm run build:dashboard` in clients/js and commit crates/wavecast/assets/dashboard');
    process.exit(1);
  }
  console.log(`check:dashboard: the committed bundle matches the source (${built.join(', ')})`);
  // Both levels: 9 (`gzip -9`) and zlib's default, 6 (plain `gzip`); the budget applies to the larger.
  const sizes = have.map((name) => {
    const raw = readFileSync(join(committed, name));
    const best = gzipSync(raw, { level: constants.Z_BEST_COMPRESSION }).length;
    const plain = gzipSync(raw).length;
    console.log(`  ${name}: ${raw.length} bytes, gzipped ${best} (level 9) / ${plain} (default)`);
    return { best, plain };
  });
  const best = sizes.reduce((s, x) => s + x.best, 0);
  const plain = sizes.reduce((s, x) => s + x.plain, 0);
  const total = `${best} bytes gzipped at level 9, ${plain} at the default level`;
  if (Math.max(best, plain) > GZIP_BUDGET) {
    console.error(`check:dashboard: the bundle is ${total}: over the budget of ${GZIP_BUDGET} bytes (150 KB)`);
    process.exit(1);
  }
  console.log(`check:dashboard: the bundle is ${total} (budget ${GZIP_BUDGET})`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
