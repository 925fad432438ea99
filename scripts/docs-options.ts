/**
 * `npm run docs:options`: rewrites the options table in README.md from the option table (options/), so the
 * README says what the code does. The table runs from its header row to the next blank line. A unit test
 * (test/unit/options/option-table.test.ts) fails while the two differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { optionsTableMarkdown } from '../options/option-table.ts';

export const README = join(import.meta.dirname, '..', 'README.md');
const HEADER = '| option | default | meaning |';

/** Where the options table sits in `readme` (lines `start` to `end`, exclusive), and its text. */
export function readmeOptionsTable(readme: string): { lines: string[]; start: number; end: number; table: string } {
  const lines = readme.split('\n');
  const start = lines.findIndex((line) => line.trim() === HEADER);
  if (start < 0) throw new Error(`README.md has no options table (no line "${HEADER}")`);
  let end = start;
  while (end < lines.length && lines[end]!.trim() !== '') end++;
  return { lines, start, end, table: lines.slice(start, end).join('\n') };
}

/** `readme` with its options table replaced by `table`. */
export function withOptionsTable(readme: string, table: string): string {
  const { lines, start, end } = readmeOptionsTable(readme);
  return [...lines.slice(0, start), table, ...lines.slice(end)].join('\n');
}

if (import.meta.main) {
  const readme = readFileSync(README, 'utf8');
  const updated = withOptionsTable(readme, optionsTableMarkdown());
  if (updated === readme) {
    console.log('README.md: the options table is up to date');
  } else {
    writeFileSync(README, updated);
    console.log('README.md: options table rewritten from options/option-table.ts');
  }
}
