#!/usr/bin/env node
// Rebuilds the dashboard into a temporary directory and fails if it differs,
// file by file and byte by byte, from the committed bundle in
// crates/wavecast/assets/dashboard. The build must be deterministic.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
} finally {
  rmSync(out, { recursive: true, force: true });
}
