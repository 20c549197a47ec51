// Bench rows: every figure beside a baseline measured in the same run, its
// ratio, and a goal checked mechanically. Pure (formatting included).

/** What a row must satisfy. `ratioMax`/`ratioMin` apply to value / baseline. */
export interface Goal {
  /** value must be below this (same unit as the row) */
  max?: number;
  /** value must be at least this */
  min?: number;
  /** ratio must be at most this */
  ratioMax?: number;
  /** ratio must be at least this */
  ratioMin?: number;
  /** a further condition the suite computed (e.g. on a figure net of measured overhead) */
  holds?: boolean;
  /** how the goal reads in the table, e.g. "< 100 ns, ≤ 10× floor" */
  text: string;
}

export interface Baseline {
  name: string;
  value: number;
}

export interface Row {
  suite: string;
  name: string;
  /** null when the figure is not available (see `note`) */
  value: number | null;
  unit: string;
  baseline: Baseline | null;
  /** value / baseline.value */
  ratio: number | null;
  goal: string | null;
  /** null: no goal, or not available */
  met: boolean | null;
  note?: string;
}

export interface RowInput {
  name: string;
  value: number | null;
  unit: string;
  baseline?: Baseline | null;
  goal?: Goal | null;
  note?: string;
}

export function makeRow(suite: string, input: RowInput): Row {
  const baseline = input.baseline ?? null;
  const value = input.value !== null && Number.isFinite(input.value) ? input.value : null;
  const ratio = value !== null && baseline && baseline.value > 0 && Number.isFinite(baseline.value) ? value / baseline.value : null;
  const goal = input.goal ?? null;
  let met: boolean | null = null;
  if (goal && value !== null) {
    met = true;
    if (goal.max !== undefined && !(value < goal.max)) met = false;
    if (goal.min !== undefined && !(value >= goal.min)) met = false;
    if (goal.ratioMax !== undefined && !(ratio !== null && ratio <= goal.ratioMax)) met = false;
    if (goal.ratioMin !== undefined && !(ratio !== null && ratio >= goal.ratioMin)) met = false;
    if (goal.holds === false) met = false;
  }
  return { suite, name: input.name, value, unit: input.unit, baseline, ratio, goal: goal?.text ?? null, met, ...(input.note ? { note: input.note } : {}) };
}

/** A row for a figure that cannot be measured here, with the reason instead of a number. */
export function unavailableRow(suite: string, name: string, unit: string, why: string, goal?: Goal): Row {
  return { suite, name, value: null, unit, baseline: null, ratio: null, goal: goal?.text ?? null, met: null, note: `not available: ${why}` };
}

export function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  if (a >= 100_000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

function ratioText(r: number | null): string {
  if (r === null) return '–';
  if (r !== 0 && Math.abs(r) < 0.01) return `${r.toPrecision(2)}×`;
  if (r >= 100) return `${Math.round(r).toLocaleString('en-US')}×`;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** The table `npm run bench` prints: one line per row, notes beneath their row. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['suite', 'name', 'value', 'unit', 'baseline', 'ratio', 'goal', 'met'];
  const cells = rows.map((r) => [
    r.suite,
    r.name,
    r.value === null ? 'n/a' : formatNumber(r.value),
    r.unit,
    r.baseline ? `${formatNumber(r.baseline.value)} (${r.baseline.name})` : '–',
    ratioText(r.ratio),
    r.goal ?? '–',
    r.met === null ? '–' : r.met ? 'met' : 'NOT MET',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const right = new Set([2, 5]);
  const line = (c: string[]) =>
    c
      .map((s, i) => (right.has(i) ? s.padStart(widths[i]!) : s.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  rows.forEach((r, i) => {
    out.push(line(cells[i]!));
    if (r.note) out.push(`${' '.repeat(widths[0]! + 2)}↳ ${r.note}`);
  });
  return out.join('\n');
}
