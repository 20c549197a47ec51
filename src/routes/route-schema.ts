// The route file format: ONE zod definition per document kind. The TypeScript
// types, the validator and the JSON Schema files in schemas/ (editor
// validation) all come from here; scripts/gen-schemas.ts regenerates them.
//
// The schema describes the format, including what later tiers will serve
// (header matches, tier 2 and 3). Refinements (which JSON Schema cannot
// carry) then reject what the data path cannot serve yet, each with an error
// that says why. Path and host matching follow Gateway API's HTTPRoute
// (docs/routes.md lists where they differ).
import { z } from 'zod';
import { HttpMethod, type Listener, type Route, type SourceRef } from './route-model.js';
import { ENDPOINT_PATTERN, UNICAST_IPV4_PATTERN, explainAddress, explainEndpoint, splitEndpoint } from './endpoint.js';
import { PATH_PATTERN, explainPath } from './http-path.js';
import { closest } from './did-you-mean.js';
import { quote } from './printable.js';
import { LIMITS } from '../model/layout.generated.js';
import { prefixDepth } from '../model/route-shapes.js';

export const API_VERSION = 'rauta.io/v1';
/** RAUTA_MAX_BACKENDS in bpf/rauta.h: backend slots per route. */
export const MAX_BACKENDS: number = LIMITS.MAX_BACKENDS;
/** RAUTA_MAGLEV_SIZE in bpf/rauta.h: the only Maglev table size the data path has. */
export const DEFAULT_TABLE_SIZE: number = LIMITS.MAGLEV_SIZE;
export const SUPPORTED_TABLE_SIZES: readonly number[] = [DEFAULT_TABLE_SIZE];
export const MAX_WEIGHT = 65535;
/** RAUTA_MAX_PREFIX_DEPTH: "/" boundaries the data path records a hash at */
export const MAX_PREFIX_DEPTH: number = LIMITS.MAX_PREFIX_DEPTH;
/** RAUTA_MAX_HOST: longest host name */
export const MAX_HOST: number = LIMITS.MAX_HOST;

const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?$/;

function explainName(name: string): string {
  if (name.length === 0) return 'name is empty';
  if (name.length > 63) return `name is ${name.length} characters long; at most 63`;
  const bad = /[^a-z0-9.-]/.exec(name);
  if (bad) {
    const fixed = name
      .toLowerCase()
      .replace(/[^a-z0-9.-]+/g, '-')
      .replace(/^[.-]+|[.-]+$/g, '');
    const hint = NAME_PATTERN.test(fixed) ? `; write "${fixed}"` : '';
    return `name ${quote(name)} has ${quote(bad[0])}: names use lower-case letters, digits, "-" and "."${hint}`;
  }
  return `name ${quote(name)} must start and end with a letter or digit`;
}

const input = (iss: { input?: unknown }): unknown => iss.input;
const quoted = (v: unknown): string => (typeof v === 'string' ? quote(v) : String(JSON.stringify(v) ?? v).slice(0, 60));

const methodList = HttpMethod.options.join(', ');
const Method = z
  .enum(HttpMethod.options, {
    error: (iss) => {
      const v = input(iss);
      if (typeof v !== 'string') return undefined; // the generic "expected a string" message
      const hint = closest(v, HttpMethod.options);
      return `unknown method ${quoted(v)}${hint ? `; did you mean ${hint}?` : ''} (the data path knows ${methodList})`;
    },
  })
  .meta({ description: `HTTP method to match: one of ${methodList}. Absent: any method.` });

export const MetadataName = z
  .string()
  .regex(NAME_PATTERN, { error: (iss) => explainName(String(input(iss))) })
  .meta({ description: 'Unique name among documents of this kind: 1-63 lower-case letters, digits, "-" or ".".' });

const Metadata = z.strictObject({ name: MetadataName });

export const PathValue = z
  .string()
  .regex(PATH_PATTERN, { error: (iss) => explainPath(String(input(iss))) ?? 'invalid path' })
  .meta({ description: 'Request path to match byte for byte: starts with "/", at most 255 bytes of printable ASCII, no space, "?" or "#".' });

const PATH_TYPES = ['Exact', 'PathPrefix'] as const;
const PathMatch = z
  .strictObject({
    type: z
      .enum(PATH_TYPES, {
        error: (iss) => {
          const v = input(iss);
          if (typeof v !== 'string') return undefined;
          if (v === 'RegularExpression')
            return 'RegularExpression paths are not supported: the data path hashes paths, it runs no regular expressions; use Exact or PathPrefix';
          const hint = closest(v, PATH_TYPES) ?? (v.toLowerCase().includes('prefix') ? 'PathPrefix' : undefined);
          return `must be Exact or PathPrefix, got ${quoted(v)}${hint ? `; did you mean ${hint}?` : ''}`;
        },
      })
      .default('Exact')
      .meta({
        description:
          'Exact (the default): the whole path, byte for byte. PathPrefix: the path starts with value on a "/" boundary ("/api" matches /api, /api/ and /api/v1, never /apiary); a trailing "/" in value is ignored.',
      }),
    value: PathValue,
  })
  .superRefine((path, ctx) => {
    const depth = prefixDepth(path.value);
    if (path.type === 'PathPrefix' && depth > MAX_PREFIX_DEPTH)
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `a PathPrefix has at most ${MAX_PREFIX_DEPTH} path elements (the data path records the hash at the first ${MAX_PREFIX_DEPTH} "/"); ${quote(path.value)} has ${depth}`,
      });
  });

/** Why `host` cannot be a rule's host, or null when it can: a DNS name, or "*." and one (lower-case, RFC 1123). */
export function explainHost(host: string): string | null {
  if (host.length === 0) return 'host is empty; leave it out to match any host';
  if (host.length > MAX_HOST) return `host is ${host.length} characters long; at most ${MAX_HOST}`;
  if (/:\d*$/.test(host)) return `host ${quote(host)} has a port; write the name alone: the data path strips the port from the Host header`;
  if (host.endsWith('.')) return `host ${quote(host)} ends with "."; write it without the trailing dot`;
  if (host !== host.toLowerCase() && HOST_PATTERN.test(host.toLowerCase()))
    return `host ${quote(host)} has upper-case letters; write ${quote(host.toLowerCase())} (the data path lower-cases the Host header)`;
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (name.includes('*')) return `host ${quote(host)}: a wildcard is "*." followed by a name, like "*.example.com" (one leading label only)`;
  if (!HOST_PATTERN.test(host)) return `host ${quote(host)} is not a host name: labels of a-z, 0-9 and "-" (not first or last), separated by "."`;
  return null;
}
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOST_PATTERN = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);

export const HostValue = z
  .string()
  .refine((h) => explainHost(h) === null, { error: (iss) => explainHost(String(input(iss))) ?? 'invalid host' })
  .meta({
    description:
      'Host to match (the Host header, port stripped, compared case-insensitively): a name like "shop.example.com", or "*.example.com" for any one label before ".example.com". Absent: any host. Lower case, at most 253 characters.',
  });

const HeaderMatch = z.strictObject({
  name: z.string().min(1, { error: 'header name is empty' }),
  value: z.string(),
});

const Headers = z
  .array(HeaderMatch)
  .superRefine((headers, ctx) => {
    if (headers.length > 0)
      ctx.addIssue({
        code: 'custom',
        message: 'header matches need Tier 2 (TC-BPF header inspection), which rauta does not have yet; remove spec.match.headers',
      });
  })
  .meta({ description: 'Header matches (needs Tier 2, not available yet).' });

const Match = z.strictObject({
  method: Method.optional(),
  host: HostValue.optional(),
  path: PathMatch,
  headers: Headers.optional(),
});

const BackendRef = z.strictObject({
  endpoint: z
    .string()
    .regex(ENDPOINT_PATTERN, { error: (iss) => explainEndpoint(String(input(iss))) ?? 'invalid endpoint' })
    .meta({ description: 'Backend as "ip:port": a unicast IPv4 address and a port 1-65535, like 10.1.0.5:8080.' }),
  weight: z
    .int()
    .min(1, { error: (iss) => `must be an integer from 1 to ${MAX_WEIGHT}, got ${quoted(input(iss))}` })
    .max(MAX_WEIGHT, { error: (iss) => `must be an integer from 1 to ${MAX_WEIGHT}, got ${quoted(input(iss))}` })
    .default(1)
    .meta({ description: `Relative share of new connections, 1-${MAX_WEIGHT}; default 1.` }),
});

const Backends = z
  .array(BackendRef)
  .min(1, { error: 'a rule needs at least one backend' })
  .max(MAX_BACKENDS, {
    error: (iss) => `a rule has at most ${MAX_BACKENDS} backends (the data path's slots per route); this one has ${(input(iss) as unknown[]).length}`,
  })
  .superRefine((backends, ctx) => {
    const seen = new Map<string, number>();
    backends.forEach((b, i) => {
      const first = seen.get(b.endpoint);
      if (first === undefined) seen.set(b.endpoint, i);
      else
        ctx.addIssue({
          code: 'custom',
          path: [i, 'endpoint'],
          message: `endpoint ${b.endpoint} is listed twice (also backends[${first}]); list it once and raise its weight instead`,
        });
    });
  });

const Tier = z
  .literal([1, 2, 3], { error: (iss) => (typeof input(iss) === 'number' ? `must be 1, 2 or 3, got ${quoted(input(iss))}` : undefined) })
  .default(1)
  .superRefine((tier, ctx) => {
    if (tier !== 1) {
      const what = tier === 2 ? 'Tier 2 (TC-BPF)' : 'Tier 3 (userspace proxy)';
      ctx.addIssue({ code: 'custom', message: `${what} does not exist yet; the data path serves tier 1 (XDP) only: remove "tier" or set tier: 1` });
    }
  })
  .meta({ description: 'Data-path tier that serves the rule: 1 (XDP, the default); 2 and 3 are planned.' });

const Maglev = z.strictObject({
  tableSize: z
    .int()
    .positive()
    .default(DEFAULT_TABLE_SIZE)
    .superRefine((size, ctx) => {
      if (!SUPPORTED_TABLE_SIZES.includes(size))
        ctx.addIssue({
          code: 'custom',
          message: `${size} is not supported; the data path's Maglev tables have ${SUPPORTED_TABLE_SIZES.join(' or ')} slots: use ${SUPPORTED_TABLE_SIZES.join(' or ')} or omit tableSize`,
        });
    })
    .meta({ description: `Maglev lookup table size; the data path supports ${SUPPORTED_TABLE_SIZES.join(', ')} (the default).` }),
});

export const ListenerPort = z
  .int()
  .min(1, { error: (iss) => `must be an integer from 1 to 65535, got ${quoted(input(iss))}` })
  .max(65535, { error: (iss) => `must be an integer from 1 to 65535, got ${quoted(input(iss))}` });

export const HEALTH_CHECK_DEFAULTS = {
  path: '/',
  intervalSeconds: 5,
  timeoutSeconds: 2,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
} as const;
const MAX_INTERVAL_S = 3600;
const MAX_THRESHOLD = 100;

const seconds = (what: string, min: number, max: number, def: number) =>
  z
    .number({ error: (iss) => (iss.input === undefined ? undefined : `must be a number of seconds, got ${quoted(input(iss))}`) })
    .min(min, { error: (iss) => `must be from ${min} to ${max} seconds, got ${quoted(input(iss))}` })
    .max(max, { error: (iss) => `must be from ${min} to ${max} seconds, got ${quoted(input(iss))}` })
    .default(def)
    .meta({ description: `${what}, ${min}-${max} seconds; default ${def}.` });

const threshold = (what: string, def: number) =>
  z
    .int({ error: (iss) => (iss.input === undefined ? undefined : `must be an integer from 1 to ${MAX_THRESHOLD}, got ${quoted(input(iss))}`) })
    .min(1, { error: (iss) => `must be an integer from 1 to ${MAX_THRESHOLD}, got ${quoted(input(iss))}` })
    .max(MAX_THRESHOLD, { error: (iss) => `must be an integer from 1 to ${MAX_THRESHOLD}, got ${quoted(input(iss))}` })
    .default(def)
    .meta({ description: `${what}; default ${def}.` });

const HealthCheckSpec = z
  .strictObject({
    path: PathValue.default(HEALTH_CHECK_DEFAULTS.path).meta({
      description: `Path the check GETs; default "${HEALTH_CHECK_DEFAULTS.path}". A status of 200-399 passes.`,
    }),
    port: ListenerPort.optional().meta({ description: "Port the check connects to; default the backend's own port." }),
    intervalSeconds: seconds('Time between two checks of one backend', 0.1, MAX_INTERVAL_S, HEALTH_CHECK_DEFAULTS.intervalSeconds),
    timeoutSeconds: seconds(
      'Time a check may take (connect to last byte of the status line) before it fails; at most intervalSeconds',
      0.05,
      MAX_INTERVAL_S,
      HEALTH_CHECK_DEFAULTS.timeoutSeconds,
    ),
    healthyThreshold: threshold('Consecutive passing checks that bring an unhealthy backend back', HEALTH_CHECK_DEFAULTS.healthyThreshold),
    unhealthyThreshold: threshold('Consecutive failing checks that drain a healthy backend', HEALTH_CHECK_DEFAULTS.unhealthyThreshold),
  })
  .superRefine((hc, ctx) => {
    if (hc.timeoutSeconds > hc.intervalSeconds)
      ctx.addIssue({
        code: 'custom',
        path: ['timeoutSeconds'],
        message: `timeoutSeconds ${hc.timeoutSeconds} is longer than intervalSeconds ${hc.intervalSeconds}: a check must end before the next one starts`,
      });
  })
  .meta({
    description:
      'Active HTTP health checks of every backend, run by each node (node-local: never written to Git or the event log). A failing backend gets no new connections until it passes again; when every backend of the rule fails, all are kept (fail open).',
  });

const apiVersion = z.literal(API_VERSION, {
  error: (iss) => (typeof input(iss) === 'string' ? `must be ${API_VERSION}, got ${quoted(input(iss))}` : undefined),
});

export const RoutingRuleDocument = z
  .strictObject({
    apiVersion,
    kind: z.literal('RoutingRule'),
    metadata: Metadata,
    spec: z.strictObject({
      tier: Tier,
      match: Match,
      backends: Backends,
      maglev: Maglev.optional(),
      healthCheck: HealthCheckSpec.optional(),
    }),
  })
  .meta({
    title: 'rauta RoutingRule',
    description: 'Sends requests matching a path (exact or prefix), and optionally a host and a method, to a weighted set of backends.',
  });
export type RoutingRuleDocument = z.output<typeof RoutingRuleDocument>;
export type RoutingRuleDocumentInput = z.input<typeof RoutingRuleDocument>;

export const ListenerAddress = z
  .string()
  .regex(UNICAST_IPV4_PATTERN, {
    error: (iss) => {
      const v = String(input(iss));
      if (/^[0-9.]+:[0-9]+$/.test(v)) return `${quote(v)} has a port; write the address alone and the port in spec.port`;
      return explainAddress(v) ?? 'invalid address';
    },
  })
  .meta({ description: 'Virtual IPv4 address (VIP) the data path answers on.' });

export const ListenerDocument = z
  .strictObject({
    apiVersion,
    kind: z.literal('Listener'),
    metadata: Metadata,
    spec: z.strictObject({
      address: ListenerAddress,
      port: ListenerPort,
    }),
  })
  .meta({ title: 'rauta Listener', description: 'A VIP:port the data path answers; traffic to anything else passes through untouched.' });
export type ListenerDocument = z.output<typeof ListenerDocument>;
export type ListenerDocumentInput = z.input<typeof ListenerDocument>;

/** Any route document: what a YAML document in a routes repo must be. */
export const RouteDocument = z
  .discriminatedUnion('kind', [RoutingRuleDocument, ListenerDocument])
  .meta({ title: 'rauta route document', description: 'One YAML document of a rauta routes repo: a RoutingRule or a Listener.' });

export const DOCUMENT_SCHEMAS = { RoutingRule: RoutingRuleDocument, Listener: ListenerDocument } as const;
export type DocumentKind = keyof typeof DOCUMENT_SCHEMAS;
export const DOCUMENT_KINDS = Object.keys(DOCUMENT_SCHEMAS) as DocumentKind[];

/** The normalized route a valid RoutingRule document stands for. */
export function toRoute(doc: RoutingRuleDocument, source: SourceRef): Route {
  return {
    name: doc.metadata.name,
    ...(doc.spec.match.method !== undefined ? { method: doc.spec.match.method } : {}),
    path: doc.spec.match.path.value,
    ...(doc.spec.match.path.type === 'PathPrefix' ? { pathType: 'PathPrefix' as const } : {}),
    ...(doc.spec.match.host !== undefined ? { host: doc.spec.match.host } : {}),
    backends: doc.spec.backends.map((b) => ({ ...splitEndpoint(b.endpoint), weight: b.weight })),
    tableSize: doc.spec.maglev?.tableSize ?? DEFAULT_TABLE_SIZE,
    ...(doc.spec.healthCheck ? { healthCheck: doc.spec.healthCheck } : {}),
    source,
  };
}

export function toListener(doc: ListenerDocument, source: SourceRef): Listener {
  return { name: doc.metadata.name, address: doc.spec.address, port: doc.spec.port, source };
}

/** Field names allowed in the object at `path` of a document of `kind` (for "did you mean" hints). */
export function fieldsAt(kind: DocumentKind, path: readonly PropertyKey[]): string[] {
  let schema: z.ZodType = DOCUMENT_SCHEMAS[kind];
  const unwrap = (s: z.ZodType): z.ZodType => {
    while (s instanceof z.ZodOptional || s instanceof z.ZodDefault) s = s.unwrap() as z.ZodType;
    return s;
  };
  for (const seg of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject && typeof seg === 'string') {
      const next = (schema.shape as Record<string, z.ZodType>)[seg];
      if (next === undefined) return [];
      schema = next;
    } else if (schema instanceof z.ZodArray && typeof seg === 'number') {
      schema = schema.element as z.ZodType;
    } else return [];
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}
