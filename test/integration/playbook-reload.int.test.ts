import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import { readPlaybookFiles } from '../../src/runtime/playbook-loader.js';
import { PlaybookReloader } from '../../src/runtime/playbook-reloader.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

const good = (name: string, mode = 'auto') => `playbooks:\n  - name: ${name}\n    mode: ${mode}\n    match: { types: [rotation_failed] }\n    steps:\n      - action: restart_envoy\n`;

describe('playbook hot reload (real Redis audit log)', () => {
  const redis = withRedis();

  it('a valid edit takes effect; an invalid one keeps the last good set and is audited', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-'));
    const file = join(dir, 'playbooks.yaml');
    writeFileSync(file, good('first'));
    const audit = new RedisAuditLog(redis.connect(), uniquePrefix('reload'));
    const initial = await readPlaybookFiles([file]);
    const r = new PlaybookReloader([file], initial.playbooks, initial.texts, { audit, clock: { now: () => 1_000 }, log: silentLogger() });
    assert.deepEqual(r.playbooks().map((p) => p.name), ['first']);

    await r.check();
    assert.equal((await audit.list()).length, 0, 'unchanged files change nothing');

    writeFileSync(file, good('second', 'shadow'));
    await r.check();
    assert.deepEqual(r.playbooks().map((p) => `${p.name}/${p.mode}`), ['second/shadow']);

    writeFileSync(file, good('third').replace('restart_envoy', 'reboot_cluster'));
    await r.check();
    assert.deepEqual(r.playbooks().map((p) => p.name), ['second'], 'the last good set stays in force');
    const entries = await audit.list();
    assert.deepEqual(entries.map((e) => e.type), ['playbooks.reloaded', 'playbooks.rejected']);
    assert.match(entries[1]?.message ?? '', /playbooks\.yaml:6:17: playbooks\.0\.steps\.0\.action/);

    writeFileSync(file, '');
    await r.check();
    assert.deepEqual(r.playbooks().map((p) => p.name), ['second']);
  });
});
