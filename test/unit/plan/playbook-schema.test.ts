import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { playbookFileJsonSchema } from '../../../src/plan/playbooks/parse-playbooks.js';

describe('published playbook JSON Schema', () => {
  it('schemas/playbooks.schema.json is what the validator enforces (run `npm run schemas` after changing it)', () => {
    assert.deepEqual(JSON.parse(readFileSync('schemas/playbooks.schema.json', 'utf8')), playbookFileJsonSchema());
  });

  it('describes the ladder: actions, incident types, durations and no unknown keys', () => {
    const text = JSON.stringify(playbookFileJsonSchema());
    for (const needle of ['"restart_envoy"', '"rotation_failed"', '"fleet_storm"', '"additionalProperties":false', '"pattern":"^([0-9]+(ms|s|m|h))+$"']) {
      assert.ok(text.includes(needle), `schema lacks ${needle}`);
    }
  });
});
