#!/usr/bin/env node
// Entry point: loads the TypeScript sources through tsx so no build step is needed after `npm ci`.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/main.ts');
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
