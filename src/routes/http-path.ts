// Request paths as the Tier-1 data path matches them: the exact bytes between
// the method and " HTTP/1.x", hashed with FNV-1a. Anything a client cannot
// send literally in a request line (spaces, controls, non-ASCII) or that is not
// part of the path (query, fragment) could never match, so it is an error.
import { quote } from './printable.js';
import { LIMITS } from '../model/layout.generated.js';

/** Longest path the request-line scan accepts (RAUTA_MAX_PATH in bpf/rauta.h). */
export const MAX_PATH_BYTES: number = LIMITS.MAX_PATH;

// Printable ASCII except space (0x20), '#' (0x23) and '?' (0x3f); 1 to 255 bytes, leading '/'.
export const PATH_PATTERN = new RegExp(`^/[\\x21\\x22\\x24-\\x3e\\x40-\\x7e]{0,${MAX_PATH_BYTES - 1}}$`);

/** Why `path` cannot be a Tier-1 route path, or null when it can. */
export function explainPath(path: string): string | null {
  if (path.length === 0) return 'path is empty; it must start with "/"';
  if (!path.startsWith('/')) return `path ${quote(path)} must start with "/"`;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    const at = `at character ${i + 1}`;
    if (c === 0x20) return `path ${quote(path)} has a space ${at}; percent-encode it as %20`;
    if (c < 0x20 || c === 0x7f) return `path ${quote(path)} has a control character ${at}`;
    if (c === 0x3f) return `path ${quote(path)} has "?" ${at}: the query string is not part of a route; remove ${quote(path.slice(i))}`;
    if (c === 0x23) return `path ${quote(path)} has "#" ${at}: fragments are never sent to the server; remove ${quote(path.slice(i))}`;
    if (c > 0x7e) return `path ${quote(path)} has a non-ASCII character ${at}; clients send it percent-encoded, so write it that way (e.g. %C3%A9 for é)`;
  }
  if (path.length > MAX_PATH_BYTES) return `path is ${path.length} bytes long; the data path matches at most ${MAX_PATH_BYTES}`;
  return null;
}
