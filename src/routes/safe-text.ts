// Guards that run before the YAML parser sees a byte: size, encoding and
// nesting depth. yaml survives deep nesting (it turns the stack overflow into
// an error) but spends seconds and hundreds of MiB on it, so refuse early.

export const MAX_FILE_BYTES = 1024 * 1024;
/** Deepest nesting accepted, block (indentation, "- ") and flow ([ {) levels together; route documents need 5. */
export const MAX_NESTING = 64;

export type TextResult = { ok: true; text: string } | { ok: false; offset: number; message: string };

/** Decodes UTF-8 strictly; on failure names the first bad byte. A leading BOM is dropped. */
export function decodeUtf8(bytes: Uint8Array): TextResult {
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    const offset = firstInvalidUtf8(bytes);
    const byte = bytes[offset] ?? 0;
    return {
      ok: false,
      offset,
      message: `not valid UTF-8 (byte 0x${byte.toString(16).padStart(2, '0')} at offset ${offset}); save the file as UTF-8`,
    };
  }
}

/** Offset of the first byte that starts an invalid UTF-8 sequence (bytes.length if none). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      i++;
      continue;
    }
    // Continuation bytes needed and the smallest code point allowed (no overlong forms).
    const [need, min] = b >= 0xc2 && b <= 0xdf ? [1, 0x80] : b >= 0xe0 && b <= 0xef ? [2, 0x800] : b >= 0xf0 && b <= 0xf4 ? [3, 0x10000] : [0, 0];
    if (need === 0) return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return bytes.length;
}

/**
 * Offset where nesting first exceeds MAX_NESTING, or -1. Counts block
 * collections by indentation (each line deeper than the one that opened its
 * parent, and each "- ", "? " or ": " indicator that starts a line's content, is
 * one level; a shallower line closes the deeper ones) plus flow brackets
 * outside quotes and comments. Rough on purpose: it only bounds the parser's
 * work (a staircase of indented text can count as nesting); the parser does the rest.
 */
export function excessiveNesting(text: string): number {
  let depth = 0; // flow collections open here
  let quote = ''; // inside a quoted scalar in flow context
  let prev = '\n'; // previous non-blank character
  const indents: number[] = []; // columns of the block levels open at this line
  // i = -1 stands for a newline before the text, so the first line is measured too
  for (let i = -1; i < text.length; i++) {
    const c = i < 0 ? '\n' : (text[i] ?? '');
    if (quote !== '') {
      if (c === quote) quote = '';
      else if (c === '\\' && quote === '"') i++;
      continue;
    }
    if (c === '\n') {
      prev = c;
      if (depth > 0) continue;
      // Block context: measure the next content line's indentation.
      let j = i + 1;
      while (text[j] === ' ') j++;
      const first = text[j];
      if (first === undefined || first === '\n' || first === '\r' || first === '#') continue; // blank or comment line
      const indent = j - i - 1;
      while (indents.length > 0 && (indents.at(-1) ?? 0) >= indent) indents.pop();
      indents.push(indent);
      // "- a", "- - a", "? a", ": a": each indicator opens a level at the column after it
      while ((text[j] === '-' || text[j] === '?' || text[j] === ':') && (text[j + 1] === ' ' || text[j + 1] === '\t')) {
        j += 2;
        while (text[j] === ' ' || text[j] === '\t') j++;
        indents.push(j - i - 1);
        prev = '-';
      }
      if (indents.length > MAX_NESTING) return j;
      i = j - 1;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') continue;
    if (c === '#' && /\s/.test(text[i - 1] ?? ' ')) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
      continue;
    }
    // Where a flow collection may open: after a block indicator, or anywhere inside flow context.
    const atNodeStart = prev === '\n' || prev === ':' || prev === '-' || prev === '?' || (depth > 0 && (prev === '[' || prev === '{' || prev === ','));
    if ((c === '[' || c === '{') && (depth > 0 || atNodeStart)) {
      if (++depth + indents.length > MAX_NESTING) return i;
    } else if (depth > 0) {
      if (c === ']' || c === '}') depth--;
      else if ((c === '"' || c === "'") && atNodeStart) quote = c;
    }
    prev = c;
  }
  return -1;
}

/** 1-based line and column (in UTF-16 code units) of `offset` in `text`. */
export function textPosition(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, col: offset - lineStart + 1 };
}
