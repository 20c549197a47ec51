// The one logger factory: pino JSON lines (for log shippers), or pino-pretty
// when a person watches the terminal. Synchronous streams, no worker thread,
// so the last lines before an exit are never lost.
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  /** default: RAUTA_LOG_LEVEL or "info" */
  level?: LevelWithSilent;
  /** default: pretty when stdout is a TTY and RAUTA_LOG_FORMAT is not "json" */
  pretty?: boolean;
  name?: string;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? (process.env.RAUTA_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info';
  const wantPretty = opts.pretty ?? (process.stdout.isTTY === true && process.env.RAUTA_LOG_FORMAT !== 'json');
  const base = { level, name: opts.name ?? 'rauta', timestamp: pino.stdTimeFunctions.isoTime };
  if (!wantPretty) return pino(base, pino.destination({ fd: 1, sync: true }));
  return pino(base, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name', sync: true }));
}
