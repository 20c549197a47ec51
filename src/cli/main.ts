// The `rauta` command. Each subcommand lives in its own module and registers
// itself here; exit codes: 0 ok, 1 the check found something, 2 usage/environment.
import { Command, CommanderError } from 'commander';
import { RautaError } from '../errors.js';

type Register = (program: Command) => void;

// Subcommand modules, in the order --help lists them.
const commands: Array<[name: string, load: () => Promise<{ register: Register }>]> = [
  ['validate', () => import('./validate.js')],
  ['log', () => import('./log.js')],
  ['history', () => import('./history.js')],
  ['plan', () => import('./plan.js')],
  ['probe', () => import('./probe.js')],
  ['run', () => import('./run.js')],
  ['watch', () => import('./watch.js')],
  ['agent', () => import('./agent.js')],
  ['status', () => import('./status.js')],
];

/**
 * The modules to load for `argv`: only the named command's, so `validate` and
 * `plan` run on a CI runner without libbpf (run.ts and agent.ts load the FFI as
 * they are imported); every module for `--help`, `help X` or an unknown word.
 */
function modulesFor(argv: readonly string[]): typeof commands {
  const named = commands.filter(([name]) => name === argv[2]);
  return named.length > 0 ? named : commands;
}

/**
 * `rauta log | head`: the reader went away. Stop quietly with 0, as a listing cut
 * short by its reader is not a failure (and a stack trace there is noise).
 */
function exitQuietlyOnEpipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(`rauta: cannot write output: ${err.message}\n`);
    process.exit(2);
  });
}

export async function main(argv: string[]): Promise<number> {
  exitQuietlyOnEpipe(process.stdout);
  const program = new Command('rauta')
    .description('GitOps control plane for a kernel-level (XDP) HTTP load balancer')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  for (const [, load] of modulesFor(argv)) (await load()).register(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    if (err instanceof RautaError) {
      process.stderr.write(`rauta: ${err.message} [${err.code}]\n`);
      return 2;
    }
    throw err;
  }
}
