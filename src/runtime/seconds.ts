// Durations on the command line are seconds (fractions allowed); inside, milliseconds.
import { RautaError } from '../errors.js';

export function seconds(value: string, flag: string, min = 0): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min) {
    throw new RautaError('RAUTA_ERR_USAGE', `${flag} ${value}: give a number of seconds${min > 0 ? ` (at least ${min})` : ' (0 disables)'}`);
  }
  return Math.round(n * 1000);
}
