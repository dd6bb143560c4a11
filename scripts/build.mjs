// Builds dist/ from src/: tsc with tsconfig.build.json, then copies the non-TypeScript files that
// src reads at run time (the SPIRE .proto files) to the same place under dist, so every path
// resolved from import.meta.url is the same relative path from src/ (tests, tsx) and from dist/.
// Compiled files whose source is gone are deleted, so dist never serves a removed module.
// Writes dist/.build-stamp last: scripts/run-tests.mjs compares it with src/ to spot a stale dist.
// A type error fails the build, except with --allow-type-errors (tsc emits anyway): run-tests.mjs uses it so
// the binary's tests run on a half-edited tree, as the tests run through tsx do; `npm test` typechecks itself.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const res = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
const allowTypeErrors = process.argv.includes('--allow-type-errors');
// tsc exits 2 when it emitted despite type errors; anything else is a failure to build at all.
if (res.status !== 0 && !(allowTypeErrors && res.status === 2)) {
  console.error('build: tsc failed');
  process.exit(res.status ?? 1);
}
if (res.status !== 0) console.error('build: type errors above; dist/ emitted anyway (--allow-type-errors)');

const sources = filesUnder(src);
const assets = sources.filter((f) => !f.endsWith('.ts'));
for (const f of assets) {
  mkdirSync(dirname(join(dist, f)), { recursive: true });
  copyFileSync(join(src, f), join(dist, f));
}

// What dist may hold: each source's compiled .js (and .js.map), each asset, and the build's own files.
const expected = new Set([...assets, '.tsbuildinfo', '.build-stamp']);
for (const f of sources.filter((s) => s.endsWith('.ts'))) {
  const js = f.replace(/\.ts$/, '.js');
  expected.add(js);
  expected.add(`${js}.map`);
}
const orphans = filesUnder(dist).filter((f) => !expected.has(f));
for (const f of orphans) rmSync(join(dist, f));
writeFileSync(join(dist, '.build-stamp'), `${new Date().toISOString()}\n`);
console.log(
  `build: dist/ ready (${assets.length} asset(s) copied${orphans.length > 0 ? `, ${orphans.length} stale file(s) removed` : ''})`,
);
