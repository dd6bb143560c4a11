// Regenerates schemas/*.schema.json from the validation schemas: `npm run schemas`.
import { writeFileSync } from 'node:fs';
import { playbookFileJsonSchema } from '../src/plan/playbooks/parse-playbooks.js';

writeFileSync('schemas/playbooks.schema.json', `${JSON.stringify(playbookFileJsonSchema(), null, 2)}\n`);
console.log('wrote schemas/playbooks.schema.json');
