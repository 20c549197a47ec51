// Text that came from a repository (values, file names, commit subjects, authors)
// on its way to a person or a log: control characters escaped, so no input can
// forge an output line ("file:1:1: ...") or drive the terminal, and long values
// cut to a prefix that says how long they were, so no input can make a message,
// an event or a /healthz answer grow with it. Pure.

/** Longest prefix of a value quoted in a message. */
export const MAX_QUOTED_CHARS = 60;
/** Longest message a validation issue carries (values inside are already cut to MAX_QUOTED_CHARS). */
export const MAX_MESSAGE_CHARS = 400;
/** Longest file name an issue or a printed line carries; a longer path is cut (route files are judged on this limit too). */
export const MAX_PATH_CHARS = 1024;

// C0 and C1 controls, DEL, line and paragraph separators, and the bidi overrides
// and isolates (they reorder what a terminal shows: "Trojan Source").
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

function escapeChar(c: string): string {
  return SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** True when `s` holds a character printable() would escape. */
export function hasUnsafeChars(s: string): boolean {
  return UNSAFE.test(s);
}

/** `s` with every control character written as an escape (\n, \t, \u001b, ...); everything else as is. */
export function printable(s: string): string {
  return UNSAFE.test(s) ? s.replace(UNSAFE_ALL, escapeChar) : s;
}

/** Cuts at a code point boundary (never half a surrogate pair). */
function prefix(s: string, max: number): string {
  if (s.length <= max) return s;
  const code = s.charCodeAt(max - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/**
 * A value as a message quotes it: in double quotes, escaped like a JSON string
 * (plus C1 controls and bidi characters), at most `max` characters of it, with
 * the length said when it was cut: "aaaa…" (1048576 characters).
 */
export function quote(value: string, max = MAX_QUOTED_CHARS): string {
  const head = prefix(value, max);
  const body = head.replace(/["\\]/g, (c) => `\\${c}`);
  const cut = head.length < value.length ? `…" (${value.length} characters)` : '"';
  return `"${printable(body)}${cut}`;
}

/** Free text (a message, a subject) made printable and cut to `max` characters, saying so when cut. */
export function clip(text: string, max: number): string {
  const safe = printable(text);
  if (safe.length <= max) return safe;
  return `${prefix(safe, max)}… (${text.length} characters)`;
}

/**
 * A file name as a printed line shows it: as is when it is plain, else quoted and
 * escaped the way git quotes such paths ("a\nb.yaml"), so a name cannot break a line.
 */
export function printablePath(path: string): string {
  if (!UNSAFE.test(path) && !path.includes('"') && path.length <= MAX_PATH_CHARS) return path;
  return quote(path, MAX_PATH_CHARS);
}
