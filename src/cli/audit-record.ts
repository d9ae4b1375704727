/**
 * Parsing of the kernel's seccomp audit records (AUDIT_SECCOMP, type 1326) in
 * the shapes an operator finds them:
 *
 * - dmesg:        `[  596.43] audit: type=1326 audit(1795884565.319:2): auid=... code=0x80000000`
 * - /dev/kmsg:    `5,1234,596430993,-;audit: type=1326 audit(...): ...`
 * - journalctl:   `Nov 28 16:59:25 host kernel: audit: type=1326 audit(...): ...`
 * - audit.log:    `type=SECCOMP msg=audit(1795884565.319:2): auid=... code=0x80000000<GS>AUID="unset" ...`
 * - ausearch -i:  `type=SECCOMP msg=audit(11/28/2026 16:59:25.319:2) : ... arch=x86_64 syscall=acct code=kill`
 *
 * Pure functions only: mapping a record to an ABI, a group and a fix lives in
 * commands/audit.ts, reading the kernel log in audit-source.ts.
 */

import {
  SECCOMP_ACTION_NAMES,
  SECCOMP_RET,
  seccompActionName,
  type SeccompActionName,
} from '../bpf/types';

/** AUDIT_SECCOMP (include/uapi/linux/audit.h). */
export const AUDIT_SECCOMP = 1326;

/** One seccomp record, fields as the kernel wrote them (numbers decoded). */
export interface SeccompRecord {
  /** Event time from `audit(SECONDS.MILLIS:SERIAL)`, ms since the epoch; undefined if absent. */
  readonly timeMs?: number;
  /** The audit event serial (the part after `:`). */
  readonly serial?: number;
  readonly auid?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly ses?: number;
  readonly pid?: number;
  readonly comm?: string;
  readonly exe?: string;
  /** Signal number sent (31 = SIGSYS on most ABIs; 0 when the call was only logged). */
  readonly sig?: number;
  /** AUDIT_ARCH_* value, or undefined when only a name was given (see archName). */
  readonly arch?: number;
  /** The arch as ausearch -i names it (e.g. "x86_64"), when the record was interpreted. */
  readonly archName?: string;
  /** The syscall number as seccomp saw it (x32 numbers include 0x40000000). */
  readonly syscall?: number;
  /** The syscall name, when the record was interpreted by ausearch -i. */
  readonly syscallName?: string;
  readonly compat?: number;
  readonly ip?: bigint;
  /** The SECCOMP_RET_* value the filter returned (action | data). */
  readonly code?: number;
  /** The line the record came from, trimmed. */
  readonly raw: string;
}

/** The fields every caller can rely on, for schema checks and docs. */
export const RECORD_FIELDS = [
  'auid',
  'uid',
  'gid',
  'ses',
  'pid',
  'comm',
  'exe',
  'sig',
  'arch',
  'syscall',
  'compat',
  'ip',
  'code',
] as const;

// `type=1326` (kernel/printk form) or `type=SECCOMP` (auditd's log form).
const TYPE_RE = /\btype=(1326|SECCOMP)\b/;
// audit(1795884565.319:2) or ausearch's audit(11/28/2026 16:59:25.319:2)
export const STAMP_RE = /audit\(([^)]*)\)\s*:?/;

/**
 * Splits `key=value key="quoted value"` pairs. Values are unquoted; an
 * unquoted value is kept as written (the caller decides whether it is hex).
 */
export function splitFields(text: string): Map<string, { value: string; quoted: boolean }> {
  const fields = new Map<string, { value: string; quoted: boolean }>();
  const re = /([A-Za-z_][A-Za-z0-9_-]*)=("([^"]*)"|'([^']*)'|(\S*))/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const quotedValue = m[3] ?? m[4];
    fields.set(m[1], {
      value: quotedValue ?? m[5] ?? '',
      quoted: quotedValue !== undefined,
    });
  }
  return fields;
}

/**
 * The kernel hex-encodes untrusted strings (comm, exe) that contain a space, a
 * quote, a control or non-ASCII character, and quotes the others; an unquoted
 * even-length run of hex digits is such an encoding.
 */
export function untrustedString(
  f: { value: string; quoted: boolean } | undefined,
): string | undefined {
  if (f === undefined) return undefined;
  if (f.quoted || f.value === '(null)') return f.value;
  if (/^(?:[0-9A-Fa-f]{2})+$/.test(f.value)) return Buffer.from(f.value, 'hex').toString('utf8');
  return f.value; // ausearch -i prints it decoded and unquoted
}

export function integer(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^0x[0-9a-f]+$/i.test(value)) return Number.parseInt(value.slice(2), 16);
  if (/^-?\d+$/.test(value)) return Number.parseInt(value, 10);
  return undefined;
}

/** SIG* names ausearch -i prints, for the signals seccomp sends. */
const SIGNAL_NAMES: Readonly<Record<string, number>> = { SIGSYS: 31, SIGKILL: 9 };
/**
 * ausearch -i names for `code=`: the kernel's action names in lower case with
 * dashes (kill-process, user-notif), and auparse's older "kill".
 */
function codeOfName(text: string): number | undefined {
  if (text === 'kill') return SECCOMP_RET.KILL_PROCESS;
  for (const [value, name] of SECCOMP_ACTION_NAMES) if (auditName(name) === text) return value;
  return undefined;
}

function auditName(name: SeccompActionName): string {
  return name.toLowerCase().replace(/_/g, '-');
}

export function parseStamp(text: string): { timeMs?: number; serial?: number } {
  // Raw form: seconds.millis:serial
  let m = /^(\d+)\.(\d{1,3}):(\d+)$/.exec(text);
  if (m) {
    return {
      timeMs: Number(m[1]) * 1000 + Number(m[2].padEnd(3, '0')),
      serial: Number(m[3]),
    };
  }
  // ausearch -i: MM/DD/YYYY HH:MM:SS.mmm:serial, in local time
  m = /^(\d\d)\/(\d\d)\/(\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{1,3}):(\d+)$/.exec(text);
  if (m) {
    const d = new Date(
      Number(m[3]),
      Number(m[1]) - 1,
      Number(m[2]),
      Number(m[4]),
      Number(m[5]),
      Number(m[6]),
      Number(m[7].padEnd(3, '0')),
    );
    return { timeMs: d.getTime(), serial: Number(m[8]) };
  }
  return {};
}

/**
 * Parses one line; undefined when it is not a seccomp record. Unknown fields
 * are ignored (kernels add fields such as `subj=`), and a field that is
 * missing is left undefined rather than guessed.
 */
export function parseSeccompLine(line: string): SeccompRecord | undefined {
  // auditd's enriched format appends interpreted fields after a GS (0x1d) byte.
  const text = line.split('\x1d')[0].trim();
  const typeMatch = TYPE_RE.exec(text);
  if (!typeMatch) return undefined;
  const afterType = text.slice(typeMatch.index);
  const stampMatch = STAMP_RE.exec(afterType);
  const stamp = stampMatch ? parseStamp(stampMatch[1].trim()) : {};
  const body = stampMatch
    ? afterType.slice(stampMatch.index + stampMatch[0].length)
    : afterType.slice(typeMatch[0].length);
  const f = splitFields(body);
  // Without a syscall field this is not a record we can explain.
  if (!f.has('syscall')) return undefined;

  const archText = f.get('arch')?.value;
  const arch =
    archText !== undefined && /^[0-9a-f]{8}$/i.test(archText)
      ? integer(`0x${archText}`)
      : undefined;
  const syscallText = f.get('syscall')?.value;
  const syscall = integer(syscallText);
  const sigText = f.get('sig')?.value;
  const codeText = f.get('code')?.value;
  const ipText = f.get('ip')?.value;

  return {
    ...stamp,
    auid: integer(f.get('auid')?.value),
    uid: integer(f.get('uid')?.value),
    gid: integer(f.get('gid')?.value),
    ses: integer(f.get('ses')?.value),
    pid: integer(f.get('pid')?.value),
    comm: untrustedString(f.get('comm')),
    exe: untrustedString(f.get('exe')),
    sig: integer(sigText) ?? (sigText !== undefined ? SIGNAL_NAMES[sigText] : undefined),
    arch,
    archName: arch === undefined ? archText : undefined,
    syscall,
    syscallName: syscall === undefined ? syscallText : undefined,
    compat: integer(f.get('compat')?.value),
    ip: ipText !== undefined && /^0x[0-9a-f]+$/i.test(ipText) ? BigInt(ipText) : undefined,
    code: integer(codeText) ?? (codeText !== undefined ? codeOfName(codeText) : undefined),
    raw: text,
  };
}

/** Every seccomp record in a text, in order. */
export function parseSeccompRecords(text: string): SeccompRecord[] {
  const out: SeccompRecord[] = [];
  for (const line of text.split('\n')) {
    const r = parseSeccompLine(line);
    if (r) out.push(r);
  }
  return out;
}

/** SECCOMP_RET_* action of a record's `code=`, in words: kill-process, errno 1, ... */
export function describeCode(code: number | undefined): string {
  if (code === undefined) return 'unknown';
  const name = seccompActionName(code);
  if (name === undefined) return `0x${(code >>> 0).toString(16)}`;
  return name === 'ERRNO' ? `errno ${code & SECCOMP_RET.DATA}` : auditName(name);
}
