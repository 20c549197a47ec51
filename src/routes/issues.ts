// Validation issues: how they print and how they sort. Every issue names the
// file, line and column (1-based) it is about, so editors and CI can link it.
import { z } from 'zod';
import { printable, printablePath } from './printable.js';

/** One problem found in the route files: where (file, 1-based line and column) and what. */
export const ValidationIssue = z.object({
  file: z.string(),
  line: z.number().int(),
  col: z.number().int(),
  message: z.string(),
});
export type ValidationIssue = z.infer<typeof ValidationIssue>;

/**
 * "file:line:col: message", the format compilers use and editors link. A file
 * name or message with control characters is escaped: one issue is one line.
 */
export function formatIssue(i: ValidationIssue): string {
  return `${printablePath(i.file)}:${i.line}:${i.col}: ${printable(i.message)}`;
}

// Plain code-unit comparison, not localeCompare: output must not depend on the locale.
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function compareIssues(a: ValidationIssue, b: ValidationIssue): number {
  return cmp(a.file, b.file) || a.line - b.line || a.col - b.col || cmp(a.message, b.message);
}

export function compareFileNames(a: string, b: string): number {
  return cmp(a, b);
}
