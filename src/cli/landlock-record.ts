/**
 * The kernel's Landlock audit records (Linux 6.15+, Landlock ABI 7), which
 * say what QEMU's domain refused: files=deny's path rules, and the scoping of
 * signals and abstract unix sockets every `-sandbox on` applies.
 *
 * One denial is one audit event (same `audit(TIME:SERIAL)`) of up to three records:
 *
 *   type=1423 (LANDLOCK_ACCESS)  domain=10a2b3c4d blockers=fs.read_file path="/etc/shadow" dev="vda" ino=739
 *   type=1424 (LANDLOCK_DOMAIN)  domain=10a2b3c4d status=allocated mode=enforcing pid=4242 uid=0 exe="/usr/bin/node" comm="node"
 *   type=1300 (SYSCALL)          ... syscall=257 success=no exit=-13 ... pid=4250 comm="cat" exe="/usr/bin/cat"
 *
 * The domain record comes once per domain, with its first denial: its `pid`
 * is the process that entered the domain, the launcher, so QEMU's pid (exec
 * in place); the syscall record names the process that was refused (QEMU, or
 * a child of it). The kernel writes them only while audit is enabled
 * (auditd, `auditctl -e 1`, or `audit=1` on the kernel command line).
 */
import { STAMP_RE, integer, parseStamp, splitFields, untrustedString } from './audit-record';

export const AUDIT_LANDLOCK_ACCESS = 1423;
export const AUDIT_LANDLOCK_DOMAIN = 1424;

export interface LandlockDenial {
  readonly timeMs?: number;
  readonly serial?: number;
  /** The domain's id (hex, as the kernel prints it). */
  readonly domain: string;
  /** What the domain refused: fs.read_file, fs.make_reg, scope.signal, ... */
  readonly blockers: readonly string[];
  /** The file or directory refused (fs.* blockers). */
  readonly path?: string;
  /** The process that entered the domain (the launcher, so QEMU's pid), when its record was read. */
  readonly domainPid?: number;
  /** The process refused, from the event's syscall record. */
  readonly pid?: number;
  readonly comm?: string;
  readonly exe?: string;
  readonly syscall?: number;
  /** The LANDLOCK_ACCESS line, trimmed. */
  readonly raw: string;
}

const ACCESS_RE = /\btype=(1423|LANDLOCK_ACCESS)\b/;
const DOMAIN_RE = /\btype=(1424|LANDLOCK_DOMAIN)\b/;
const SYSCALL_RE = /\btype=(1300|SYSCALL)\b/;

interface Line {
  readonly stamp: string;
  readonly fields: Map<string, { value: string; quoted: boolean }>;
  readonly raw: string;
}

function line(text: string): Line | undefined {
  const m = STAMP_RE.exec(text);
  if (!m) return undefined;
  return { stamp: m[1], fields: splitFields(text.slice(m.index + m[0].length)), raw: text.trim() };
}

/** Every Landlock denial in a kernel log, audit.log or journal text, in order. */
export function parseLandlockDenials(text: string): LandlockDenial[] {
  const accesses: Line[] = [];
  const syscallOf = new Map<string, Line>();
  // Domain ids are unique for the boot: the allocation record maps one to its pid.
  const pidOfDomain = new Map<string, number>();
  for (const t of text.split('\n')) {
    if (ACCESS_RE.test(t)) {
      const l = line(t);
      if (l) accesses.push(l);
    } else if (DOMAIN_RE.test(t)) {
      const l = line(t);
      const domain = l?.fields.get('domain')?.value;
      const pid = integer(l?.fields.get('pid')?.value);
      if (domain !== undefined && pid !== undefined) pidOfDomain.set(domain, pid);
    } else if (SYSCALL_RE.test(t)) {
      const l = line(t);
      if (l) syscallOf.set(l.stamp, l);
    }
  }
  return accesses.flatMap((a) => {
    const domain = a.fields.get('domain')?.value;
    if (domain === undefined) return [];
    const s = syscallOf.get(a.stamp);
    const stamp = parseStamp(a.stamp);
    const path = untrustedString(a.fields.get('path'));
    const domainPid = pidOfDomain.get(domain);
    const pid = integer(s?.fields.get('pid')?.value);
    const comm = untrustedString(s?.fields.get('comm'));
    const exe = untrustedString(s?.fields.get('exe'));
    const syscall = integer(s?.fields.get('syscall')?.value);
    return [
      {
        ...stamp,
        domain,
        blockers: (a.fields.get('blockers')?.value ?? '').split(',').filter((b) => b !== ''),
        ...(path !== undefined ? { path } : {}),
        ...(domainPid !== undefined ? { domainPid } : {}),
        ...(pid !== undefined ? { pid } : {}),
        ...(comm !== undefined ? { comm } : {}),
        ...(exe !== undefined ? { exe } : {}),
        ...(syscall !== undefined ? { syscall } : {}),
        raw: a.raw,
      },
    ];
  });
}

/** What files=deny's extra paths grant: ro reads; rw also writes, creates and removes beneath. */
const READ_BLOCKERS = new Set(['fs.read_file', 'fs.read_dir', 'fs.ioctl_dev']);
const WRITE_BLOCKERS = new Set([
  ...READ_BLOCKERS,
  'fs.write_file',
  'fs.truncate',
  'fs.make_reg',
  'fs.make_dir',
  'fs.make_sock',
  'fs.make_fifo',
  'fs.make_sym',
  'fs.remove_file',
  'fs.remove_dir',
  'fs.refer',
]);

/** The extra path (site config and environment forms) that would allow a denial, or why none can. */
export function allowDenial(d: Pick<LandlockDenial, 'blockers' | 'path'>): {
  readonly access: 'ro' | 'rw' | null;
  readonly words: string;
} {
  const scoped = d.blockers.filter((b) => !b.startsWith('fs.'));
  if (scoped.length > 0) {
    return {
      access: null,
      words:
        `none: ${scoped.join(', ')} is refused by the Landlock domain of every -sandbox on ` +
        '(QEMU may not signal, or reach the abstract sockets of, processes outside it)',
    };
  }
  if (d.path === undefined) return { access: null, words: 'none: the record names no path' };
  const access = d.blockers.every((b) => READ_BLOCKERS.has(b))
    ? 'ro'
    : d.blockers.every((b) => WRITE_BLOCKERS.has(b))
      ? 'rw'
      : null;
  if (access === null) {
    return {
      access: null,
      words: `none: no extra path grants ${d.blockers.join(', ')} (files=deny executes only from system locations)`,
    };
  }
  return {
    access,
    words: `"files": {${JSON.stringify(d.path)}: "${access}"} in the site config, or QEMU_SANDBOXED_FILES=${access}:${d.path}`,
  };
}
