// Regenerates schemas/*.json from the zod route schema (src/routes/route-schema.ts).
// Run: npx tsx scripts/gen-schemas.ts   (commit the result; a test checks it is fresh)
import { mkdirSync, writeFileSync } from 'node:fs';
import { routeJsonSchemas } from '../src/routes/json-schema.js';

const dir = new URL('../schemas/', import.meta.url);
mkdirSync(dir, { recursive: true });
for (const [name, content] of Object.entries(routeJsonSchemas())) {
  writeFileSync(new URL(name, dir), content);
  process.stdout.write(`wrote schemas/${name}\n`);
}
