// Maps a field path inside a parsed YAML document (["spec", "backends", 1,
// "endpoint"]) back to the source offset of its node, so every error points at
// the text to fix. Aliases resolve to their anchor: that is where the fix goes.
import { isAlias, isMap, isScalar, isSeq, type Document, type Node, type Pair } from 'yaml';

function keyText(pair: Pair): string {
  const k = pair.key;
  if (isScalar(k)) return String(k.value);
  return String(k);
}

function findPair(node: unknown, key: string): Pair<Node, Node | null> | undefined {
  if (!isMap(node)) return undefined;
  return (node.items as Pair<Node, Node | null>[]).find((p) => keyText(p) === key);
}

const start = (n: unknown): number | undefined => (n as { range?: [number, number, number] } | null)?.range?.[0];

/**
 * Offset of the node at `path`, or of the key when `key` is true (for unknown
 * fields). When the path runs out early (a missing field), the offset of the
 * deepest key that exists, so "spec.match.method is missing" points at "match:".
 */
export function locate(doc: Document, path: readonly PropertyKey[], opts: { key?: boolean } = {}): number {
  let node: unknown = doc.contents;
  let anchor = start(node) ?? 0; // where to point when the next segment is missing
  for (const [i, seg] of path.entries()) {
    for (let hops = 0; isAlias(node) && hops < 8; hops++) node = node.resolve(doc);
    const last = i === path.length - 1;
    if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      const s = start(item);
      if (s === undefined) return anchor;
      if (last) return s;
      node = item;
      anchor = s;
    } else {
      const pair = findPair(node, String(seg));
      if (pair === undefined) return anchor;
      const k = start(pair.key);
      const v = start(pair.value);
      if (last) return (opts.key ? (k ?? v) : (v ?? k)) ?? anchor;
      node = pair.value;
      anchor = k ?? v ?? anchor;
    }
  }
  return anchor;
}
