/**
 * Child process for benchmarks: builds a simulated fleet of N workloads and serves their Envoy
 * admin APIs on one loopback server, so the measuring process pays none of the fleet's CPU.
 * Prints one JSON line {port, ids} when ready; exits when stdin closes.
 */
import { SimEnvoyAdminServer } from '../src/sim/envoy-admin-server.js';
import { SimWorld } from '../src/sim/world.js';

const n = Number(process.argv[2] ?? '1000');
const world = await SimWorld.create({ trustDomain: 'example.org', svidTtlMs: 3_600_000, envoyRestartMs: 500, now: () => Date.now() });
const ids: string[] = [];
for (let i = 0; i < n; i++) {
  const id = `ns${i % 50}/web-${i}`;
  await world.addWorkload({
    id,
    spiffeId: `spiffe://example.org/ns/ns${i % 50}/sa/web-${i}`,
    platform: 'kubernetes',
    location: `ns${i % 50}`,
  });
  ids.push(id);
}
const server = new SimEnvoyAdminServer(world);
const { port } = await server.start(0);
process.stdout.write(`${JSON.stringify({ port, urls: ids.map((id) => server.adminUrl(id)) })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void server.close().then(() => process.exit(0));
});
