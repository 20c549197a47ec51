// Normalized routes and listeners back to route-file YAML: for tools that
// write route files (and for the round-trip property test: emit -> parse is
// the identity on valid route sets).
import { Document } from 'yaml';
import type { Listener, Route } from './route-model.js';
import { API_VERSION, DEFAULT_TABLE_SIZE, type ListenerDocumentInput, type RoutingRuleDocumentInput } from './route-schema.js';

export function routeToDocument(route: Route): RoutingRuleDocumentInput {
  return {
    apiVersion: API_VERSION,
    kind: 'RoutingRule',
    metadata: { name: route.name },
    spec: {
      match: {
        ...(route.method !== undefined ? { method: route.method } : {}),
        ...(route.host !== undefined ? { host: route.host } : {}),
        path: { type: route.pathType ?? 'Exact', value: route.path },
      },
      backends: route.backends.map((b) => ({ endpoint: `${b.ip}:${b.port}`, weight: b.weight })),
      ...(route.tableSize !== DEFAULT_TABLE_SIZE ? { maglev: { tableSize: route.tableSize } } : {}),
      ...(route.healthCheck ? { healthCheck: { ...route.healthCheck } } : {}),
    },
  };
}

export function listenerToDocument(listener: Listener): ListenerDocumentInput {
  return {
    apiVersion: API_VERSION,
    kind: 'Listener',
    metadata: { name: listener.name },
    spec: { address: listener.address, port: listener.port },
  };
}

/** One YAML file holding `docs`, separated by "---". */
export function emitRouteFile(docs: ReadonlyArray<RoutingRuleDocumentInput | ListenerDocumentInput>): string {
  return docs.map((d) => new Document(d).toString()).join('---\n');
}
