import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DURATION_PATTERN, playbookFileJsonSchema } from '../../../src/plan/playbooks/parse-playbooks.js';
import { parseDuration } from '../../../src/knowledge/duration.js';

describe('published playbook JSON Schema', () => {
  it('schemas/playbooks.schema.json is what the validator enforces (run `npm run schemas` after changing it)', () => {
    assert.deepEqual(JSON.parse(readFileSync('schemas/playbooks.schema.json', 'utf8')), playbookFileJsonSchema());
  });

  it('describes the ladder: actions, incident types, durations and no unknown keys', () => {
    const text = JSON.stringify(playbookFileJsonSchema());
    for (const needle of [
      '"restart_envoy"',
      '"rotation_failed"',
      '"fleet_storm"',
      '"additionalProperties":false',
      JSON.stringify({ pattern: DURATION_PATTERN }).slice(1, -1),
    ]) {
      assert.ok(text.includes(needle), `schema lacks ${needle}`);
    }
  });

  it('the duration pattern editors check accepts exactly what the validator accepts', () => {
    const pattern = new RegExp(DURATION_PATTERN);
    const samples = [
      '30s',
      '5m',
      '1h',
      '500ms',
      '1m30s',
      '1.5h',
      '1d',
      ' 2m ',
      '1h30m15s',
      '',
      'm',
      '5',
      '5 m',
      '1x',
      '-1s',
      '1.s',
      '30sec',
      '1h-5m',
    ];
    for (const d of samples) assert.equal(pattern.test(d), parseDuration(d) !== null, `"${d}"`);
  });
});
