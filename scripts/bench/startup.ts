/**
 * Part 3, start-up cost: wall time of the launcher (default, spawn=deny,
 * files=deny with a disk) beside `node -e 0` and `qemu -version`, and where
 * the launcher's time goes (the marks of its JSON launch record).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstError, launcherPath, median, round2, shuffled, type BenchOptions } from './common';

export interface StartupPart {
  readonly available: boolean;
  readonly note: string;
  readonly rounds: number;
  /** Median wall time in ms per command. */
  readonly medianMs: Record<string, number>;
  /** Median over rounds of launcher - (node -e 0) - (qemu -version), same round. */
  readonly addedMs: Record<string, number>;
  /**
   * Where the launcher's time goes, from the `marks` of its JSON launch record
   * (ms since Node started, at the end of each phase): median per mark.
   */
  readonly launcherMarks: Record<string, Record<string, number>>;
  /** Median over rounds of launcher - launcher-no-record: writing the JSON launch record (pino). */
  readonly recordMs: number | null;
}

interface Command {
  readonly cmd: string;
  readonly args: string[];
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Wall time of one run in ms, or NaN when it failed (counted and reported, not timed). */
function timeOnce(c: Command, marks?: Record<string, number[]>): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(c.cmd, c.args, {
    stdio: ['ignore', 'ignore', marks ? 'pipe' : 'ignore'],
    encoding: 'utf8',
    ...(c.env ? { env: { ...process.env, ...c.env } } : {}),
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (marks && r.status === 0) {
    // The launcher writes one JSON record on stderr when it is not a TTY.
    for (const line of (r.stderr ?? '').split('\n')) {
      try {
        const rec = JSON.parse(line) as { marks?: Record<string, unknown>; elapsedMs?: unknown };
        const all: Record<string, unknown> = { ...(rec.marks ?? {}), elapsedMs: rec.elapsedMs };
        for (const [k, v] of Object.entries(all))
          if (typeof v === 'number') (marks[k] ??= []).push(v);
      } catch {
        // not the JSON record
      }
    }
  }
  return r.status === 0 ? ms : NaN;
}

/** A small qcow2 for the files=deny start-up run (its header is read, as for any -drive). */
function benchDisk(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'qs-bench-'));
  const img = join(dir, 'disk.qcow2');
  const r = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', img, '64M'], { stdio: 'ignore' });
  return r.status === 0 ? img : undefined;
}

/**
 * A stand-in for Node under the trampoline: it answers the trampoline's
 * `--version` with the real Node's and exits at once otherwise, so that
 * running the trampoline with it times the trampoline alone.
 */
function nodeStub(dir: string): string {
  const stub = join(dir, 'node-stub');
  writeFileSync(
    stub,
    `#!/bin/sh\ncase "$1" in --version) exec ${JSON.stringify(process.execPath)} --version;; esac\nexit 0\n`,
    { mode: 0o755 },
  );
  return stub;
}

export function startupPart(opts: BenchOptions): StartupPart {
  const rounds = opts.quick ? 2 : 21;
  const qemu = 'qemu-system-x86_64';
  const launcher = launcherPath();
  const cmds: Record<string, Command> = {
    node: { cmd: process.execPath, args: ['-e', '0'] },
  };
  const scratch = mkdtempSync(join(tmpdir(), 'qs-bench-startup-'));
  const notes: string[] = [];
  let disk: string | undefined;
  if (spawnSync(qemu, ['-version'], { stdio: 'ignore' }).status === 0)
    cmds.qemu = { cmd: qemu, args: ['-version'] };
  else notes.push(`${qemu} is not installed (run npm run setup)`);
  if (launcher && cmds.qemu) {
    // files=deny with a disk: the ruleset (/etc entry by entry) and a qcow2 header read.
    disk = benchDisk();
    if (!disk) notes.push('files=deny is timed without a disk (qemu-img failed)');
    for (const [name, pol, extra] of [
      ['launcher', 'on', []],
      ['launcher-spawn-deny', 'on,spawn=deny', []],
      ['launcher-files-deny', 'on,files=deny', disk ? ['-drive', `file=${disk},if=none`] : []],
    ] as const) {
      const args = ['-sandbox', pol, ...extra, '-version'];
      const r = spawnSync(launcher, args, { encoding: 'utf8' });
      if (r.status === 0) cmds[name] = { cmd: launcher, args };
      else notes.push(`${name}: launcher exited ${r.status}: ${firstError(r.stderr || r.stdout)}`);
    }
    if (cmds.launcher) {
      // Where the rest goes: the launch record (pino, loaded for it) and the trampoline.
      cmds['launcher-no-record'] = {
        ...cmds.launcher,
        env: { QEMU_SANDBOXED_LOG_LEVEL: 'silent' },
      };
      cmds.trampoline = { ...cmds.launcher, env: { QEMU_SANDBOXED_NODE: nodeStub(scratch) } };
    }
  } else if (!launcher) {
    notes.push('launcher/qemu-sandboxed does not exist yet');
  }
  const samples: Record<string, number[]> = {};
  const added: Record<string, number[]> = {};
  const names = Object.keys(cmds);
  for (const n of names) timeOnce(cmds[n]); // warm the page cache
  const failures: Record<string, number> = {};
  const marks: Record<string, Record<string, number[]>> = {};
  const parts: Record<string, number[]> = {};
  for (let round = 0; round < rounds; round++) {
    const t: Record<string, number> = {};
    for (const n of shuffled(names, round + 7)) {
      t[n] = timeOnce(cmds[n], n === 'launcher' ? (marks[n] ??= {}) : undefined);
    }
    for (const n of names) {
      if (Number.isNaN(t[n])) failures[n] = (failures[n] ?? 0) + 1;
      else (samples[n] ??= []).push(t[n]);
    }
    for (const n of names.filter((x) => x.startsWith('launcher') && x !== 'launcher-no-record')) {
      const a = t[n] - t.node - t.qemu;
      if (!Number.isNaN(a)) (added[n] ??= []).push(a);
    }
    const record = t.launcher - t['launcher-no-record'];
    if (!Number.isNaN(record)) (parts.record ??= []).push(record);
  }
  if (disk) rmSync(join(disk, '..'), { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
  for (const [n, k] of Object.entries(failures))
    notes.push(`${n} failed ${k} of ${rounds} runs (not timed)`);
  const medianMs: Record<string, number> = {};
  for (const n of names) medianMs[n] = round2(median(samples[n] ?? []));
  const addedMs: Record<string, number> = {};
  for (const n of Object.keys(added)) addedMs[n] = round2(median(added[n]));
  const launcherMarks: Record<string, Record<string, number>> = {};
  for (const [n, byMark] of Object.entries(marks)) {
    launcherMarks[n] = {};
    for (const [k, v] of Object.entries(byMark)) launcherMarks[n][k] = round2(median(v));
  }
  return {
    available: Object.keys(added).length > 0,
    note: notes.join('; '),
    rounds,
    medianMs,
    addedMs,
    launcherMarks,
    recordMs: parts.record ? round2(median(parts.record)) : null,
  };
}
