/**
 * Where `audit` reads from. Default: the kernel log, because without auditd
 * the kernel prints seccomp records there (`audit: type=1326 ...`).
 * /dev/kmsg is read directly and non-blocking (one record per read(), EAGAIN
 * at the end), so no `dmesg` binary is needed; `dmesg` is the fallback when
 * /dev/kmsg cannot be opened.
 */
import { closeSync, constants, openSync, readFileSync, readSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { InputError } from './errors';

/**
 * The message part of /dev/kmsg records: `PRIO,SEQ,USEC,FLAGS;message`, then
 * continuation lines starting with a space (device properties) that we drop.
 */
export function kmsgToText(records: readonly string[]): string {
  const lines: string[] = [];
  for (const rec of records) {
    const first = rec.split('\n')[0];
    const semi = first.indexOf(';');
    lines.push(semi >= 0 ? first.slice(semi + 1) : first);
  }
  return lines.join('\n');
}

/** Every record in /dev/kmsg, reading until EAGAIN (never blocks). */
export function readKmsg(path = '/dev/kmsg'): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const records: string[] = [];
  // A record is at most 8 KiB (PRINTK_MESSAGE_MAX / CONSOLE_EXT_LOG_MAX).
  const buf = Buffer.alloc(16384);
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break; // no more records
        if (code === 'EPIPE') continue; // we were overtaken: records lost, the next read resumes
        throw err;
      }
      if (n === 0) break;
      records.push(buf.subarray(0, n).toString('utf8'));
    }
  } finally {
    closeSync(fd);
  }
  return kmsgToText(records);
}

export interface KernelLog {
  readonly text: string;
  readonly source: string;
}

/** The kernel log, or one clear error saying how to pass the records instead. */
export function readKernelLog(): KernelLog {
  let kmsgError = '';
  try {
    return { text: readKmsg(), source: '/dev/kmsg' };
  } catch (err) {
    kmsgError = (err as NodeJS.ErrnoException).code ?? String(err);
  }
  // child_process, not execa: execa is only a dev dependency of this package.
  const r = spawnSync('dmesg', [], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status === 0) return { text: r.stdout, source: 'dmesg' };
  const why = r.error ? String((r.error as NodeJS.ErrnoException).code) : r.stderr.split('\n')[0];
  throw new InputError(
    `cannot read the kernel log (/dev/kmsg: ${kmsgError}; dmesg: ${why || `exit ${r.status}`}): ` +
      `pass the records instead, e.g. journalctl -k | qemu-sandbox audit -`,
  );
}

/** A file's text, with the CLI's one-line error. */
export function readInputFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InputError(`cannot read ${path}: ${e.code ?? e.message}`);
  }
}
