/**
 * `audit --format prometheus`: the seccomp records as counters in the
 * Prometheus text exposition format (version 0.0.4), for node_exporter's
 * textfile collector. One family:
 *
 *   qemu_sandbox_seccomp_records_total{vm,group,syscall,action}
 *
 * vm is the launch record's VM name ("pid N" without -name; "" when no launch
 * record names the process), group our group that names the call ("" for
 * none), action what the filter did (log under the dry run, kill-process,
 * errno 1, ...). The counts are of the records the input holds (from --since
 * on): when a rotated log or the kernel's ring buffer drops old records a
 * count goes down, which Prometheus takes for a counter reset.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const RECORDS_METRIC = 'qemu_sandbox_seccomp_records_total';

export interface RecordSample {
  readonly vm: string;
  readonly group: string;
  readonly syscall: string;
  readonly action: string;
}

/** A label value as the exposition format writes it: backslash, double quote and newline escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const LABELS: readonly (keyof RecordSample)[] = ['vm', 'group', 'syscall', 'action'];

/**
 * The exposition text: HELP and TYPE, then one sample per distinct label set,
 * sorted (stable output: the collector compares nothing, people diff it).
 */
export function prometheusText(samples: readonly RecordSample[]): string {
  const counts = new Map<string, number>();
  for (const s of samples) {
    const key = LABELS.map((l) => `${l}="${escapeLabelValue(s[l])}"`).join(',');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const lines = [
    `# HELP ${RECORDS_METRIC} Kernel seccomp records (type=1326) of QEMU under qemu-sandboxed, by VM, group, syscall and action.`,
    `# TYPE ${RECORDS_METRIC} counter`,
  ];
  for (const key of [...counts.keys()].sort())
    lines.push(`${RECORDS_METRIC}{${key}} ${counts.get(key)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Writes `text` to `path` atomically: a hidden temporary file in the same
 * directory (the textfile collector reads only *.prom, and a rename within
 * one filesystem is atomic), synced, then renamed over `path`. The collector
 * never sees half a file.
 */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
}
