/**
 * Everything a command touches outside its arguments. The real process
 * provides it in main.ts; tests pass buffers, so every command runs in-process
 * with its exact bytes and exit code observable.
 */
export interface OutStream {
  write(chunk: string | Uint8Array): void;
  /** Whether this is a terminal: decides colours never, but refuses raw binary. */
  readonly isTTY: boolean;
}

export interface CliContext {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  /** All of standard input (only `audit -` reads it). */
  readStdin(): Promise<Buffer>;
  readonly env: NodeJS.ProcessEnv;
  /** ms since the epoch; injectable so `--since 10m` is testable. */
  now(): number;
}

/** JSON with bigints as decimal strings (u64 values do not fit a JSON number). */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function table(rows: readonly (readonly string[])[], indent = ''): string {
  if (rows.length === 0) return '';
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      if (i < row.length - 1) widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map(
      (row) =>
        indent +
        row
          .map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]) : cell))
          .join('  ')
          .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** Words wrapped at `width`, for lists of syscall names. */
export function wrapWords(words: readonly string[], width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line !== '' && indent.length + line.length + 1 + w.length > width) {
      lines.push(indent + line);
      line = w;
    } else {
      line = line === '' ? w : `${line} ${w}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines.length ? `${lines.join('\n')}\n` : '';
}
