import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { RedisAuditLog } from '../../src/adapters/redis/redis-audit-log.js';
import type { AuditEntry, AuditEventInput, AuditLog } from '../../src/knowledge/audit.js';
import { readPlaybookFiles } from '../../src/runtime/playbook-loader.js';
import { PlaybookReloader } from '../../src/runtime/playbook-reloader.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { uniquePrefix, withRedis } from '../support/redis.js';

/** Polls until `cond` holds (the reloader's timer runs every few ms), failing after 5 s. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(5);
  }
}

const good = (name: string, mode = 'auto') =>
  `playbooks:\n  - name: ${name}\n    mode: ${mode}\n    match: { types: [rotation_failed] }\n    steps:\n      - action: restart_envoy\n`;

describe('playbook hot reload (real Redis audit log)', () => {
  const redis = withRedis();

  it('a valid edit takes effect; an invalid one keeps the last good set and is audited', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-'));
    const file = join(dir, 'playbooks.yaml');
    writeFileSync(file, good('first'));
    const audit = new RedisAuditLog(redis.connect(), uniquePrefix('reload'));
    const initial = await readPlaybookFiles([file]);
    const r = new PlaybookReloader([file], initial.playbooks, initial.texts, { audit, clock: { now: () => 1_000 }, log: silentLogger() });
    assert.deepEqual(
      r.playbooks().map((p) => p.name),
      ['first'],
    );

    await r.check();
    assert.equal((await audit.list()).length, 0, 'unchanged files change nothing');

    writeFileSync(file, good('second', 'shadow'));
    await r.check();
    assert.deepEqual(
      r.playbooks().map((p) => `${p.name}/${p.mode}`),
      ['second/shadow'],
    );

    writeFileSync(file, good('third').replace('restart_envoy', 'reboot_cluster'));
    await r.check();
    assert.deepEqual(
      r.playbooks().map((p) => p.name),
      ['second'],
      'the last good set stays in force',
    );
    const entries = await audit.list();
    assert.deepEqual(
      entries.map((e) => e.type),
      ['playbooks.reloaded', 'playbooks.rejected'],
    );
    assert.match(entries[1]?.message ?? '', /playbooks\.yaml:6:17: playbooks\.0\.steps\.0\.action/);

    writeFileSync(file, '');
    await r.check();
    assert.deepEqual(
      r.playbooks().map((p) => p.name),
      ['second'],
    );
  });

  it('an audit log that throws (Redis down) never escapes the timer: logged, last good set kept, retried', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-'));
    const file = join(dir, 'playbooks.yaml');
    writeFileSync(file, good('first'));
    let down = true;
    const appended: AuditEventInput[] = [];
    const audit: AuditLog = {
      append: (e) => {
        if (down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
        appended.push(e);
        return Promise.resolve({ ...e, seq: appended.length, id: String(appended.length), prevHash: '', hash: '' } satisfies AuditEntry);
      },
      list: () => Promise.resolve([]),
      verify: () => Promise.resolve({ ok: true, entries: 0 }),
    };
    const logged: string[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          logged.push(chunk.toString());
          done();
        },
      }),
    );
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => {
      unhandled.push(e);
    };
    process.on('unhandledRejection', onUnhandled);
    const initial = await readPlaybookFiles([file]);
    const r = new PlaybookReloader([file], initial.playbooks, initial.texts, { audit, clock: { now: () => 1_000 }, log });
    try {
      // A valid edit and an invalid one while the audit log is down: neither applied, nothing thrown.
      writeFileSync(file, good('second'));
      await r.check();
      assert.deepEqual(
        r.playbooks().map((p) => p.name),
        ['first'],
        'not in force before it is audited',
      );
      r.start(5);
      await sleep(50);
      writeFileSync(file, good('third').replace('restart_envoy', 'reboot_cluster'));
      await until(() => logged.some((l) => l.includes('playbook reload rejected')));
      await sleep(30);
      assert.deepEqual(
        r.playbooks().map((p) => p.name),
        ['first'],
      );
      assert.deepEqual(unhandled, []);
      assert.ok(
        logged.filter((l) => l.includes('playbook reload check failed') && l.includes('ECONNREFUSED')).length >= 2,
        'every failed check is logged',
      );
      assert.equal(logged.filter((l) => l.includes('playbook reload rejected')).length, 1, 'the rejection itself is logged once');

      // The audit log is back: the rejection is audited on the next check, then a valid edit applies.
      down = false;
      await until(() => appended.length > 0);
      assert.deepEqual(
        appended.map((e) => e.type),
        ['playbooks.rejected'],
      );
      writeFileSync(file, good('fourth', 'shadow'));
      await until(() => r.playbooks()[0]?.name === 'fourth');
      assert.deepEqual(
        r.playbooks().map((p) => `${p.name}/${p.mode}`),
        ['fourth/shadow'],
      );
      assert.deepEqual(
        appended.map((e) => e.type),
        ['playbooks.rejected', 'playbooks.reloaded'],
      );
      assert.deepEqual(unhandled, []);
    } finally {
      await r.stop();
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
