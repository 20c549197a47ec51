// Regenerates docs/errors.md from src/errors.ts (test/errors.test.ts checks they agree).
import { writeFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/errors.js';

const rows = Object.entries(ERROR_CODES).map(([code, text]) => `| \`${code}\` | ${text} |`);
writeFileSync(
  new URL('../docs/errors.md', import.meta.url),
  `# Error codes\n\nEvery error rauta raises on purpose carries one of these codes (\`err.code\`, and \`[CODE]\` at the end of CLI messages).\nGenerated from \`src/errors.ts\` by \`npx tsx scripts/gen-error-docs.ts\`.\n\n| code | meaning |\n|---|---|\n${rows.join('\n')}\n`,
);
