// Secrets the commands take (the Redis URL with its password, the webhook HMAC
// secret): never a commander default, because --help prints defaults. They are
// read when the command runs: the flag, else a file (--…-file, nothing in `ps`),
// else the environment variable.
import { readFileSync } from 'node:fs';
import { RautaError } from '../errors.js';

export interface SecretSource {
  /** the value of the flag itself (visible in `ps`: the file or the variable is better) */
  value?: string;
  /** the path given to the file flag */
  file?: string;
  fileFlag: string;
  env: string;
}

/** The secret, or null when no source has one. A file's trailing newline is dropped. */
export function readSecret(src: SecretSource): string | null {
  if (src.value !== undefined && src.value !== '') return src.value;
  if (src.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(src.file, 'utf8');
    } catch (err) {
      throw new RautaError('RAUTA_ERR_USAGE', `${src.fileFlag} ${src.file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
        cause: err,
      });
    }
    const secret = text.replace(/\r?\n$/, '');
    if (secret === '') throw new RautaError('RAUTA_ERR_USAGE', `${src.fileFlag} ${src.file} is empty`);
    return secret;
  }
  const fromEnv = process.env[src.env];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : null;
}

/** --redis, else RAUTA_REDIS_URL; a usage error when neither is set. */
export function redisUrlFrom(flag: string | undefined): string {
  const url = flag ?? process.env.RAUTA_REDIS_URL;
  if (!url) throw new RautaError('RAUTA_ERR_USAGE', 'give --redis URL (or set RAUTA_REDIS_URL)');
  return url;
}
