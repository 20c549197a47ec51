// A reader for the plain subset of YAML that route files are written in: block
// mappings and sequences, `key: value` with plain or simply quoted scalars, comments,
// `---` between documents. The `yaml` library costs ~100-200 µs a route file (its
// lexer, parser and composer build a full CST and Document for error positions);
// this reads the same file in a few µs. It answers only where it is sure to give
// what `yaml` would (YAML 1.2 core schema, unique keys): anything else (flow
// collections, anchors, tags, block scalars, multi-line or escaped scalars, numbers
// other than plain decimal integers, odd indentation) returns null and the caller
// uses `yaml`, which also gives every error its position. Pure; never throws.

/** One document: its value (a mapping) and the 1-based line its content starts on. */
export interface PlainDocument {
  data: Record<string, unknown>;
  line: number;
}

interface Line {
  indent: number;
  /** the line after its indentation */
  body: string;
  /** 1-based */
  line: number;
}

/** Thrown (and caught in plainDocuments) when the text leaves the subset. */
const NOT_PLAIN = Symbol('not plain');

const KEY = /^([A-Za-z][A-Za-z0-9_-]{0,127}):(?=$| )/;
/** Words the core schema reads as booleans or null (keys that are such words are left to `yaml`). */
const SPECIAL_WORD = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE|[Nn]ull|NULL)$/;
const PLAIN = /^([A-Za-z0-9/_][A-Za-z0-9/._:*+=@%~-]*)(?: +#.*| *)$/;
const DOUBLE_QUOTED = /^"([\x20\x21\x23-\x5b\x5d-\x7e]*)"(?: +#.*| *)$/;
const SINGLE_QUOTED = /^'([\x20-\x26\x28-\x7e]*)'(?: +#.*| *)$/;
/** Plain scalars the core schema reads as numbers other than plain decimal integers (0o, 0x, floats). */
const OTHER_NUMBER = /^(?:0o[0-7]+|0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)$/;
const DECIMAL = /^(?:0|[1-9][0-9]{0,14})$/;
/** a value after `key:` or `-`: nothing, or a comment */
const NO_VALUE = /^ *(?:#.*)?$/;

/** The documents of `text` (empty ones left out), or null when it is not plain YAML. */
export function plainDocuments(text: string, maxDocuments: number): PlainDocument[] | null {
  if (/[\r\t\uFEFF]/.test(text)) return null;
  const docs: Line[][] = [[]];
  let marked = false;
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const s = raw[i]!;
    const indent = s.length - s.trimStart().length;
    const body = s.slice(indent);
    if (body === '' || body[0] === '#') continue;
    if (indent === 0 && (body.startsWith('---') || body.startsWith('...') || body[0] === '%')) {
      if (body !== '---') return null;
      // a leading --- starts the first document; later ones start another
      if (marked || docs[0]!.length > 0) docs.push([]);
      marked = true;
      if (docs.length >= maxDocuments) return null; // the limit's error comes from `yaml`
      continue;
    }
    docs.at(-1)!.push({ indent, body, line: i + 1 });
  }
  const out: PlainDocument[] = [];
  try {
    for (const lines of docs) {
      if (lines.length === 0) continue;
      const reader = new BlockReader(lines);
      const data = reader.node(lines[0]!.indent);
      if (reader.pos !== lines.length || Array.isArray(data)) return null;
      out.push({ data: data as Record<string, unknown>, line: lines[0]!.line });
    }
  } catch (err) {
    if (err === NOT_PLAIN) return null;
    throw err;
  }
  return out;
}

function notPlain(): never {
  throw NOT_PLAIN;
}

class BlockReader {
  pos = 0;
  constructor(private readonly lines: Line[]) {}

  /** A mapping or sequence whose entries start at column `col` on the current line. */
  node(col: number): Record<string, unknown> | unknown[] {
    const body = this.lines[this.pos]!.body;
    if (body === '-') notPlain();
    return body.startsWith('- ') ? this.sequence(col) : this.mapping(col);
  }

  private mapping(col: number): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    while (this.pos < this.lines.length) {
      const line = this.lines[this.pos]!;
      if (line.indent < col) break;
      if (line.indent > col) notPlain();
      const key = KEY.exec(line.body)?.[1];
      if (key === undefined || SPECIAL_WORD.test(key) || Object.hasOwn(map, key)) notPlain();
      const rest = line.body.slice(key.length + 1);
      this.pos++;
      if (!NO_VALUE.test(rest)) {
        map[key] = scalar(rest.trimStart());
        continue;
      }
      const next = this.lines[this.pos];
      if (next && next.indent > col) map[key] = this.node(next.indent);
      else if (next && next.indent === col && next.body.startsWith('- ')) map[key] = this.sequence(col);
      else map[key] = null;
    }
    return map;
  }

  private sequence(col: number): unknown[] {
    const seq: unknown[] = [];
    while (this.pos < this.lines.length) {
      const line = this.lines[this.pos]!;
      if (line.indent !== col || !line.body.startsWith('- ')) break;
      const rest = line.body.slice(2).trimStart();
      if (rest.startsWith('-') || NO_VALUE.test(rest)) notPlain();
      if (KEY.test(rest)) {
        // `- key: ...` opens a mapping whose keys sit where this key does
        const itemCol = col + (line.body.length - rest.length);
        this.lines[this.pos] = { indent: itemCol, body: rest, line: line.line };
        seq.push(this.mapping(itemCol));
      } else {
        seq.push(scalar(rest));
        this.pos++;
      }
    }
    const next = this.lines[this.pos];
    if (next && next.indent > col) notPlain();
    return seq;
  }
}

/** A one-line scalar with an optional comment after it, as the core schema resolves it. */
function scalar(s: string): string | number | boolean | null {
  const quoted = DOUBLE_QUOTED.exec(s) ?? SINGLE_QUOTED.exec(s);
  if (quoted) return quoted[1]!;
  const plain = PLAIN.exec(s)?.[1];
  if (plain === undefined || plain.endsWith(':')) notPlain();
  if (DECIMAL.test(plain)) return Number(plain);
  if (OTHER_NUMBER.test(plain)) notPlain();
  if (SPECIAL_WORD.test(plain)) return plain[0] === 'n' || plain[0] === 'N' ? null : plain[0] === 't' || plain[0] === 'T';
  return plain;
}
