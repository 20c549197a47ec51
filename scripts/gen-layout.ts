// Generates src/model/layout.generated.ts from the BTF of bpf/rauta.bpf.o (as
// cilium/ebpf's bpf2go generates Go from an object): struct sizes and member
// offsets, array lengths, every enum of bpf/rauta.h, and each map's type,
// key/value sizes and default max entries. bpf/rauta.h stays the one source of
// truth; `make -C bpf` runs this after building the object, and
// test/layout.test.ts fails when the committed file is not what the object says.
//
//   node --import tsx scripts/gen-layout.ts [--check] [OBJECT] [OUT]
import { execFileSync } from 'node:child_process';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: Array<{ name: string; type_id: number; bits_offset: number }>;
  values?: Array<{ name: string; val: number }>;
  vars?: Array<{ type_id: number }>;
}

const STRUCTS = [
  'route_key',
  'backend',
  'backend_list',
  'maglev_key',
  'maglev_table',
  'flow_key',
  'flow_value',
  'saved_request',
  'listener_key',
  'nexthop',
  'backend_key',
  'backend_stats',
  'route_shape',
  'route_shapes',
  'request_info',
  'parse_scratch',
];
/** enum name -> [prefix stripped from its values, TS name, kind]; 'values' maps are const objects, 'enum' TS enums. */
const ENUMS: Array<[string, string, string, 'enum' | 'values']> = [
  ['rauta_method', 'RAUTA_METHOD_', 'METHOD_CODES', 'values'],
  ['rauta_metric', 'RAUTA_M_', 'Metric', 'enum'],
  ['rauta_flow_side', 'RAUTA_SIDE_', 'FlowSide', 'enum'],
  ['rauta_flow_state', 'RAUTA_FLOW_', 'FlowState', 'enum'],
  ['rauta_reply', 'RAUTA_REPLY_', 'FlowReply', 'enum'],
  ['rauta_flow_flag', 'RAUTA_FLOW_F_', 'FLOW_FLAGS', 'values'],
  ['rauta_limits', 'RAUTA_LIMIT_', 'LIMITS', 'values'],
  ['rauta_backend_stat', 'RAUTA_BS_', 'BACKEND_STAT', 'values'],
  ['rauta_path_match', 'RAUTA_PATH_', 'PATH_MATCH', 'values'],
  ['rauta_host_match', 'RAUTA_HOST_', 'HOST_MATCH', 'values'],
];
/** Values left out of the generated TS (sentinels, not members). */
const SKIP = new Set(['RAUTA_METHOD_INVALID', 'RAUTA_M_COUNT', 'RAUTA_BS_COUNT', 'RAUTA_HOST_KINDS']);

export function generateLayout(objectPath: string): string {
  const json = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', objectPath], { encoding: 'utf8' });
  const types = new Map((JSON.parse(json) as { types: BtfType[] }).types.map((t) => [t.id, t]));
  const find = (kind: string, name: string): BtfType => {
    const t = [...types.values()].find((x) => x.kind === kind && x.name === name);
    if (!t) throw new Error(`${objectPath}: no ${kind} ${name} in its BTF (is it anchored in .rauta_btf?)`);
    return t;
  };
  const resolve = (id: number): BtfType => {
    let t = types.get(id)!;
    while (t.kind === 'TYPEDEF' || t.kind === 'CONST' || t.kind === 'VOLATILE') t = types.get(t.type_id!)!;
    return t;
  };
  const sizeOf = (id: number): number => {
    const t = resolve(id);
    if (t.size !== undefined) return t.size;
    if (t.kind === 'ARRAY') return t.nr_elems! * sizeOf(t.type_id!);
    throw new Error(`no size for BTF type ${id} (${t.kind})`);
  };
  const out: string[] = [
    '// Generated from the BTF of bpf/rauta.bpf.o by scripts/gen-layout.ts (make -C bpf runs it).',
    '// Do not edit: change bpf/rauta.h, rebuild, and commit this file with it',
    '// (test/layout.test.ts fails when it is not what the object says).',
    '',
    '/** Struct sizes and member byte offsets. */',
    'export const STRUCTS = {',
  ];
  const arrays: string[] = [];
  for (const name of STRUCTS) {
    const s = find('STRUCT', name);
    const members = (s.members ?? []).map((m) => `${m.name}: ${m.bits_offset / 8}`).join(', ');
    out.push(`  ${name}: { size: ${s.size}, members: { ${members} } },`);
    for (const m of s.members ?? []) {
      const t = resolve(m.type_id);
      if (t.kind === 'ARRAY') arrays.push(`  '${name}.${m.name}': ${t.nr_elems},`);
    }
  }
  out.push('} as const;', '', '/** Element counts of the array members. */', 'export const ARRAYS = {', ...arrays, '} as const;');
  for (const [enumName, prefix, tsName, kind] of ENUMS) {
    const values = find('ENUM', enumName).values!;
    out.push('', `/** enum ${enumName} */`);
    const members = values.filter((v) => !SKIP.has(v.name)).map((v) => [v.name.slice(prefix.length), v.val] as const);
    if (kind === 'enum') out.push(`export enum ${tsName} {`, ...members.map(([n, v]) => `  ${n} = ${v},`), '}');
    else out.push(`export const ${tsName} = {`, ...members.map(([n, v]) => `  ${n}: ${v},`), '} as const;');
    if (enumName === 'rauta_metric')
      out.push('', '/** RAUTA_M_COUNT: slots in METRICS. */', `export const METRIC_COUNT = ${values.find((v) => v.name === 'RAUTA_M_COUNT')!.val};`);
  }
  // Maps: __uint(type, N) is int (*type)[N]; __type(key, T) is T *key.
  out.push('', '/** Each map as the object declares it (max entries before the loader resizes it). */', 'export const MAPS = {');
  for (const v of find('DATASEC', '.maps').vars!) {
    const variable = types.get(v.type_id)!;
    const def = resolve(variable.type_id!);
    const member = (n: string) => def.members!.find((m) => m.name === n)!;
    const count = (n: string) => resolve(resolve(member(n).type_id).type_id!).nr_elems!;
    const typeOf = (n: string) => sizeOf(resolve(member(n).type_id).type_id!);
    out.push(`  ${variable.name}: { type: ${count('type')}, keySize: ${typeOf('key')}, valueSize: ${typeOf('value')}, maxEntries: ${count('max_entries')} },`);
  }
  out.push('} as const;', '');
  return out.join('\n');
}

const DEFAULT_OBJECT = fileURLToPath(new URL('../bpf/rauta.bpf.o', import.meta.url));
export const GENERATED_LAYOUT = fileURLToPath(new URL('../src/model/layout.generated.ts', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const check = args[0] === '--check';
  const [object = DEFAULT_OBJECT, outPath = GENERATED_LAYOUT] = args.filter((a) => a !== '--check');
  const text = generateLayout(object);
  if (check) {
    if (readFileSync(outPath, 'utf8') !== text) {
      process.stderr.write(`${outPath} is stale: run make -C bpf (or node --import tsx scripts/gen-layout.ts) and commit it\n`);
      process.exit(1);
    }
  } else {
    let old = '';
    try {
      old = readFileSync(outPath, 'utf8');
    } catch {
      /* first time */
    }
    if (old !== text) writeFileSync(outPath, text);
    else utimesSync(outPath, new Date(), new Date()); // newer than the object: make is satisfied
  }
}
