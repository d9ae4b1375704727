/**
 * files=deny, from needs to Landlock rules: the system part every program
 * gets, what each need (files-common.ts) becomes on the path or on its
 * directory, the files the launcher makes first, and the merge into one rule
 * per path (with /etc granted entry by entry, without its secrets).
 */
import { dirname, join } from 'node:path';
import type { ExtraFile } from '../policy/extra-files';
import { FS, FS_FILE_RIGHTS, type LandlockPathRule } from './landlock-plan';
import { argOf, type FileFacts, type FilesRefusal, type Need, type PathKind } from './files-common';

/** Directories every program reads and executes from (the root's lib* entries are added). */
const SYSTEM_EXEC_DIRS = ['/usr', '/bin', '/sbin'];
/** Read-only trees. */
const SYSTEM_READ_DIRS = ['/proc', '/sys'];
/**
 * Entries of /etc QEMU never reads and that hold secrets: password hashes,
 * host keys, private keys, stored credentials. Paths relative to /etc.
 */
export const ETC_SECRETS = [
  'shadow',
  'shadow-',
  'gshadow',
  'gshadow-',
  'sudoers',
  'sudoers.d',
  'ssh',
  'ssl/private',
  'pki/tls/private',
  'pki/CA/private',
  'libvirt',
  'security',
  'krb5.keytab',
  'NetworkManager/system-connections',
  'wireguard',
  'ipsec.secrets',
  'ipsec.d',
  'ppp',
  'openvpn',
  'credstore',
  'credstore.encrypted',
  'letsencrypt',
];

const READ = FS.READ_FILE | FS.READ_DIR;
const READ_EXEC = READ | FS.EXECUTE;
const WRITE_FILE = FS.READ_FILE | FS.WRITE_FILE | FS.TRUNCATE;
/** A writable tree: everything but device nodes (a guest must not mknod its way to a host disk). */
const TREE_RW =
  FS.EXECUTE |
  FS.WRITE_FILE |
  FS.READ_FILE |
  FS.READ_DIR |
  FS.REMOVE_DIR |
  FS.REMOVE_FILE |
  FS.MAKE_DIR |
  FS.MAKE_REG |
  FS.MAKE_SOCK |
  FS.MAKE_FIFO |
  FS.MAKE_SYM |
  FS.REFER |
  FS.TRUNCATE;
const SCRATCH = FS.MAKE_REG | FS.READ_FILE | FS.WRITE_FILE | FS.TRUNCATE | FS.REMOVE_FILE;

/** One line of the plan, for people: a path, its access, and why. */
export interface FilesEntry {
  readonly path: string;
  readonly access: bigint;
  readonly why: string;
}

/** What the launcher does before the domain, so that the rules can name QEMU's files. */
export type FilePreparation =
  | { readonly kind: 'create'; readonly path: string; readonly mode: number }
  | { readonly kind: 'remove-stale'; readonly path: string; readonly type: 'socket' | 'symlink' };

export interface FilesPlan {
  /** The rules to add, one per path (access merged). */
  readonly rules: readonly LandlockPathRule[];
  /** Files to create and stale sockets to remove first (doctor only shows them). */
  readonly prepare: readonly FilePreparation[];
  /** What the rules are for, before /etc is expanded entry by entry. */
  readonly entries: readonly FilesEntry[];
  readonly refusals: readonly FilesRefusal[];
}

/** Landlock rights in words: "read,list,exec", "write,truncate,ioctl", "make-sock,remove"... */
export function accessWords(access: bigint): string {
  const names: Array<[bigint, string]> = [
    [FS.READ_FILE, 'read'],
    [FS.READ_DIR, 'list'],
    [FS.EXECUTE, 'exec'],
    [FS.WRITE_FILE, 'write'],
    [FS.TRUNCATE, 'truncate'],
    [FS.IOCTL_DEV, 'ioctl'],
    [FS.MAKE_REG, 'make-file'],
    [FS.MAKE_DIR, 'make-dir'],
    [FS.MAKE_SOCK, 'make-sock'],
    [FS.MAKE_FIFO, 'make-fifo'],
    [FS.MAKE_SYM, 'make-sym'],
    [FS.MAKE_CHAR, 'make-char'],
    [FS.MAKE_BLOCK, 'make-block'],
    [FS.REMOVE_FILE, 'remove'],
    [FS.REMOVE_DIR, 'remove-dir'],
    [FS.REFER, 'refer'],
  ];
  return names
    .filter(([bit]) => (access & bit) !== 0n)
    .map(([, n]) => n)
    .join(',');
}

/** What the command-line walk (files.ts) hands over. */
export interface Collected {
  readonly needs: readonly Need[];
  readonly refusals: FilesRefusal[];
  /** A pty chardev: /dev/pts is needed. */
  readonly pty: boolean;
  readonly binary: string;
  readonly extras: readonly ExtraFile[];
}

/** The plan: the system part, the needs and the extra paths as rules, merged. */
export function buildPlan(c: Collected, facts: FileFacts): FilesPlan {
  const entries: FilesEntry[] = [];
  // ---- the system -------------------------------------------------------------
  const system = (path: string, access: bigint, why: string): void => {
    entries.push({ path, access, why });
  };
  const rootLibs = facts
    .list('/')
    .filter((n) => /^lib/.test(n))
    .map((n) => `/${n}`);
  for (const d of [...SYSTEM_EXEC_DIRS, ...rootLibs.sort()]) {
    if (facts.kind(d) === 'dir') system(d, READ_EXEC, 'programs and libraries');
  }
  system('/etc', READ, `configuration (except ${ETC_SECRETS.join(', ')})`);
  for (const d of SYSTEM_READ_DIRS) system(d, READ, 'read-only: nothing under it is writable');
  for (const d of ['/dev/null', '/dev/zero', '/dev/full']) {
    system(d, FS.READ_FILE | FS.WRITE_FILE, 'standard device');
  }
  for (const d of ['/dev/random', '/dev/urandom']) system(d, FS.READ_FILE, 'standard device');
  system('/dev/ptmx', FS.READ_FILE | FS.WRITE_FILE | FS.IOCTL_DEV, 'pseudo-terminals');
  if (c.pty) system('/dev/pts', FS.READ_FILE | FS.WRITE_FILE | FS.IOCTL_DEV, 'a pty chardev');
  system(c.binary, FS.READ_FILE | FS.EXECUTE, 'the QEMU binary');

  // ---- the command line's needs and the extra paths, as rules -----------------
  const prepare: FilePreparation[] = [];
  const created = new Set<string>();
  const kindOf = (p: string): PathKind | undefined =>
    facts.kind(p) ?? (created.has(p) ? 'file' : undefined);
  for (const n of c.needs) {
    entries.push(...needRules(n, facts, { prepare, created, refusals: c.refusals }));
  }
  for (const e of c.extras) {
    const kind = facts.kind(e.path);
    if (kind === undefined) continue; // Landlock can only name what exists
    const access =
      kind === 'dir'
        ? e.access === 'rw'
          ? TREE_RW
          : READ
        : e.access === 'rw'
          ? WRITE_FILE | (kind === 'device' ? FS.IOCTL_DEV : 0n)
          : FS.READ_FILE | (kind === 'device' ? FS.IOCTL_DEV : 0n);
    entries.push({ path: e.path, access, why: `extra path (${e.origin})` });
  }

  // ---- merged, and /etc expanded ------------------------------------------------
  const merged = new Map<string, bigint>();
  const add = (path: string, access: bigint): void => {
    const kind = kindOf(path);
    if (kind === undefined) return;
    const a = kind === 'dir' ? access : access & FS_FILE_RIGHTS;
    if (a === 0n) return;
    merged.set(path, (merged.get(path) ?? 0n) | a);
  };
  for (const e of entries) {
    if (e.path === '/etc' && e.why.startsWith('configuration')) {
      for (const p of etcPaths(facts)) add(p, READ);
      // Listing /etc itself: names only, never a secret's contents.
      add('/etc', FS.READ_DIR);
    } else add(e.path, e.access);
  }
  const rules = [...merged].map(([path, access]) => ({ path, access }));
  return {
    rules,
    prepare,
    entries: dedupeEntries(entries, kindOf),
    refusals: dedupeRefusals(c.refusals),
  };
}

/** The same facts, each stat and realpath done once per plan. */
export function memoized(facts: FileFacts): FileFacts {
  const kinds = new Map<string, PathKind | undefined>();
  const reals = new Map<string, string | undefined>();
  return {
    kind: (p) => {
      if (!kinds.has(p)) kinds.set(p, facts.kind(p));
      return kinds.get(p);
    },
    realpath: (p) => {
      if (!reals.has(p)) reals.set(p, facts.realpath(p));
      return reals.get(p);
    },
    isSymlink: (p) => facts.isSymlink(p),
    readHead: (p, n) => facts.readHead(p, n),
    list: (p) => facts.list(p),
  };
}

/** The entries of /etc minus ETC_SECRETS, descending only where a secret lies deeper. */
function etcPaths(facts: FileFacts): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of facts.list(join('/etc', rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (ETC_SECRETS.includes(r)) continue;
      if (ETC_SECRETS.some((s) => s.startsWith(`${r}/`)) && facts.kind(join('/etc', r)) === 'dir') {
        walk(r);
      } else out.push(join('/etc', r));
    }
  };
  walk('');
  return out;
}

/** Where needRules records the launcher's preparations and its refusals. */
interface NeedContext {
  readonly prepare: FilePreparation[];
  readonly created: Set<string>;
  readonly refusals: FilesRefusal[];
}

/** A need as rules: on the path itself, or on its directory for what QEMU creates. */
function needRules(n: Need, facts: FileFacts, ctx: NeedContext): FilesEntry[] {
  const kind = facts.kind(n.path);
  const parent = dirname(n.path);
  const parentIsDir = facts.kind(parent) === 'dir';
  const ioctl = kind === 'device' ? FS.IOCTL_DEV : 0n;
  const on = (access: bigint): FilesEntry[] => [{ path: n.path, access, why: n.why }];
  const inParent = (access: bigint): FilesEntry[] =>
    parentIsDir ? [{ path: parent, access, why: n.why }] : [];
  switch (n.kind) {
    case 'read':
      if (kind === undefined) return [];
      return on(kind === 'dir' ? READ : FS.READ_FILE | ioctl);
    case 'exec':
      if (kind === undefined) return [];
      return on(kind === 'dir' ? READ_EXEC : FS.READ_FILE | FS.EXECUTE);
    case 'write':
      if (kind === undefined) return [];
      if (kind === 'dir') return on(TREE_RW);
      return on(kind === 'device' ? FS.READ_FILE | FS.WRITE_FILE | FS.IOCTL_DEV : WRITE_FILE);
    case 'create':
      if (kind === 'dir') return []; // QEMU fails to open a directory for writing
      if (kind === 'device') return on(FS.READ_FILE | FS.WRITE_FILE | FS.IOCTL_DEV);
      if (kind === undefined) {
        if (!parentIsDir) return []; // QEMU fails: no such directory
        if (!ctx.created.has(n.path)) {
          // QEMU's modes: the pidfile 0600 (qemu_write_pidfile), others 0666, less the umask.
          ctx.prepare.push({ kind: 'create', path: n.path, mode: n.remove ? 0o600 : 0o666 });
          ctx.created.add(n.path);
        }
      }
      return on(FS.WRITE_FILE | FS.TRUNCATE);
    case 'socket':
      if (kind === 'socket') {
        ctx.prepare.push({ kind: 'remove-stale', path: n.path, type: 'socket' });
      } else if (kind !== undefined || facts.isSymlink(n.path)) {
        ctx.refusals.push({
          arg: argOf(n.why),
          message: `${n.path} exists and is not a socket: QEMU would delete it to make its socket there`,
          fix: 'remove it yourself, or choose another socket path',
        });
        return [];
      }
      return inParent(FS.MAKE_SOCK);
    case 'symlink':
      if (facts.isSymlink(n.path)) {
        ctx.prepare.push({ kind: 'remove-stale', path: n.path, type: 'symlink' });
      } else if (kind !== undefined) {
        return [];
      }
      return inParent(FS.MAKE_SYM);
    case 'device':
      if (kind === undefined) return [];
      return on(
        FS.READ_FILE |
          (n.write ? FS.WRITE_FILE : 0n) |
          FS.IOCTL_DEV |
          (kind === 'dir' ? FS.READ_DIR : 0n),
      );
    case 'tree':
      if (kind === undefined) return [];
      if (kind === 'dir') return on(n.write ? TREE_RW : READ);
      return on(n.write ? WRITE_FILE | ioctl : FS.READ_FILE | ioctl);
    case 'scratch':
      if (kind === 'dir') return on(SCRATCH);
      if (kind !== undefined) return on(WRITE_FILE | ioctl);
      return inParent(FS.MAKE_REG | FS.READ_FILE | FS.WRITE_FILE | FS.TRUNCATE);
  }
}

function dedupeEntries(
  entries: readonly FilesEntry[],
  kindOf: (p: string) => PathKind | undefined,
): FilesEntry[] {
  const seen = new Set<string>();
  const out: FilesEntry[] = [];
  for (const e of entries) {
    const kind = kindOf(e.path);
    if (kind === undefined) continue;
    const access = kind === 'dir' ? e.access : e.access & FS_FILE_RIGHTS;
    const k = `${e.path}\u0000${access}\u0000${e.why}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ path: e.path, access, why: e.why });
  }
  return out;
}

function dedupeRefusals(refusals: readonly FilesRefusal[]): FilesRefusal[] {
  const seen = new Set<string>();
  return refusals.filter((r) => {
    const k = `${r.arg}\u0000${r.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
