// --format for commands that print a report several ways; --json stays as
// the older spelling of --format json.
import { RautaError } from '../errors.js';
import { quote } from '../routes/printable.js';

/** The chosen format: --format, else json with --json, else text; a usage error names the choices. */
export function parseFormat<F extends string>(opts: { format?: string; json?: boolean }, choices: readonly F[]): F | 'text' | 'json' {
  const all: readonly string[] = ['text', 'json', ...choices];
  const format = opts.format ?? (opts.json ? 'json' : 'text');
  if (!all.includes(format)) throw new RautaError('RAUTA_ERR_USAGE', `--format ${quote(format)}: choose one of ${all.join(', ')}`);
  if (opts.json && format !== 'json') throw new RautaError('RAUTA_ERR_USAGE', `--json and --format ${format} both choose the output; give one`);
  return format as F | 'text' | 'json';
}
