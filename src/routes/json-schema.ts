// JSON Schema files derived from the zod document schema, for editors
// (yaml-language-server) and other tools. scripts/gen-schemas.ts writes them
// into schemas/; test/routes-schema.test.ts fails when the committed files are stale.
import { z } from 'zod';
import { ListenerDocument, RouteDocument, RoutingRuleDocument } from './route-schema.js';

/** File name in schemas/ -> file content. Deterministic: same schema, same bytes. */
export function routeJsonSchemas(): Record<string, string> {
  // io: 'input' describes what users write: fields with defaults are optional.
  const render = (schema: z.ZodType): string => `${JSON.stringify(z.toJSONSchema(schema, { io: 'input' }), null, 2)}\n`;
  return {
    'route-document.schema.json': render(RouteDocument),
    'routing-rule.schema.json': render(RoutingRuleDocument),
    'listener.schema.json': render(ListenerDocument),
  };
}
