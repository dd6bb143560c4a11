// Runs every test/**/*.test.ts with node:test (tsx loader).
// Node 20 cannot expand globs and silently runs nothing for a directory of .ts files,
// so the list is built here and an empty list is an error.
// Tests that run the compiled CLI (they name bin/spire-healer.js) never see a stale dist/: when a
// file under src/ is newer than the last build (dist/.build-stamp), dist/ is rebuilt first.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = collect('test').sort();
if (filter.length > 0) files = files.filter((f) => filter.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('run-tests: no test files found under test/ — refusing to report success');
  process.exit(1);
}
/** Newest modification time of any file under `dir`. */
function newest(dir) {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    t = Math.max(t, st.isDirectory() ? newest(p) : st.mtimeMs);
  }
  return t;
}

const stamp = 'dist/.build-stamp';
const needsDist = files.some((f) => readFileSync(f, 'utf8').includes('bin/spire-healer.js'));
if (needsDist && (!existsSync(stamp) || newest('src') > statSync(stamp).mtimeMs)) {
  console.error('run-tests: dist/ is older than src/, building it first');
  const build = spawnSync(process.execPath, ['scripts/build.mjs', '--allow-type-errors'], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const res = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  env: { ...process.env, METADATA_SERVER_DETECTION: 'none' },
});
process.exit(res.status ?? 1);
