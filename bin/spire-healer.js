#!/usr/bin/env node
// Entry point: runs the compiled dist/ (built by `npm run build`, which `npm ci` runs as `prepare`).
// Nothing is compiled at run time, so the CLI starts on a read-only filesystem with no writable temp dir.
let main;
try {
  ({ main } = await import('../dist/main.js'));
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/main.js')) throw e;
  process.stderr.write('spire-healer: dist/ is missing; build it with `npm run build` (npm ci does it as `prepare`)\n');
  process.exit(1);
}
const code = await main(process.argv);
process.exitCode = code;
// Every command has finished its work here (`run` returns only after shutdown). A client library
// that keeps a reconnect timer or socket alive must not keep the CLI from exiting: give pending
// output two seconds, then exit. The timer is unref'd, so a clean process exits at once.
setTimeout(() => {
  process.stderr.write(
    `spire-healer: exiting with resources still open (${process.getActiveResourcesInfo().join(', ')}); please report this\n`,
  );
  process.exit(code);
}, 2_000).unref();
