/**
 * Runs the CLI in-process with captured output: exact bytes, exit code, no
 * subprocess (the tests share two cores with everyone else).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliContext } from '../../../src/cli/context';
import { runCli } from '../../../src/cli/main';
import { tempDir } from '../../helpers/tmp';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
}

export interface RunOptions {
  readonly stdin?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly isTTY?: boolean;
  readonly now?: number;
}

/** A config file with no keys: the built-in default "on", whatever /etc holds on this machine. */
let emptyConfig: string | undefined;
export function emptyConfigPath(): string {
  if (!emptyConfig) {
    emptyConfig = join(tempDir('qs-cli-'), 'config.json');
    writeFileSync(emptyConfig, '{}\n');
  }
  return emptyConfig;
}

export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const ctx: CliContext = {
    stdout: { write: (c) => void out.push(Buffer.from(c)), isTTY: opts.isTTY ?? false },
    stderr: { write: (c) => void err.push(Buffer.from(c)), isTTY: false },
    readStdin: () => Promise.resolve(Buffer.from(opts.stdin ?? '')),
    env: { PATH: process.env.PATH, QEMU_SANDBOXED_CONFIG: emptyConfigPath(), ...opts.env },
    now: () => opts.now ?? Date.now(),
  };
  const code = await runCli(argv, ctx);
  const stdoutBytes = Buffer.concat(out);
  return {
    code,
    stdout: stdoutBytes.toString('utf8'),
    stdoutBytes,
    stderr: Buffer.concat(err).toString('utf8'),
  };
}

/** The JSON printed by a --json command. */
export function json(r: RunResult): unknown {
  return JSON.parse(r.stdout);
}
