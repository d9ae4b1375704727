/**
 * What the benchmark's parts share: the options, the policy they measure,
 * and the statistics of noisy samples.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxPolicy } from '../../src/policy/types';
import { repoRoot } from './cbuild';

export interface BenchOptions {
  /** A few seconds (CI): fewer rounds and iterations, same code paths. */
  readonly quick: boolean;
  /** Where PERFORMANCE.md and performance.json go. */
  readonly outDir: string;
  readonly log?: (line: string) => void;
}

/** `on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny`. */
export const FULL_POLICY: SandboxPolicy = {
  enable: true,
  obsolete: 'deny',
  elevatePrivileges: 'deny',
  spawn: 'deny',
  resourceControl: 'deny',
  network: 'allow',
  action: 'kill',
  preflight: 'enforce',
  files: 'allow',
};
export const FULL_POLICY_STRING =
  'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Deterministic shuffle per round (the order changes, the run reproduces). */
export function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export const round2 = (x: number): number => Math.round(x * 100) / 100;
export const round4 = (x: number): number => Math.round(x * 10000) / 10000;

/** The most telling line of a failed command's output (a Node stack starts with a location line). */
export function firstError(text: string): string {
  const lines = text.trim().split('\n');
  return (lines.find((l) => /error/i.test(l)) ?? lines[0] ?? '').trim();
}

/** The launcher, when it exists and can run a program as its "QEMU". */
export function launcherPath(): string | undefined {
  const p = join(repoRoot(), 'launcher', 'qemu-sandboxed');
  return existsSync(p) ? p : undefined;
}
