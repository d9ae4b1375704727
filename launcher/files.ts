/**
 * files=deny: the Landlock path rules for one QEMU command line. Pure (the
 * filesystem is read through the injected FileFacts): the launcher applies
 * the rules right before execve (src/native/landlock.ts), `qemu-sandbox
 * doctor` shows them, unit tests check them without a kernel.
 *
 * What QEMU may then touch:
 *  - read (and execute) what every program reads: /usr and /lib*, /etc
 *    except the usual secret stores (ETC_SECRETS), /proc and /sys read-only
 *    (Landlock cannot take rights away beneath a granted directory, so both
 *    trees are granted read-only as a whole: nothing under /proc/sys or /sys
 *    is writable; /proc/self/fd/N reopens are checked against the file they
 *    point to, not against /proc), and the standard /dev nodes;
 *  - what its command line names, with the access that use needs
 *    (files-block.ts for disks, files-options.ts for the rest);
 *  - the operator's extra paths (site config `files`, QEMU_SANDBOXED_FILES).
 * Everything else fails with EACCES.
 *
 * Landlock rules name existing files, and a right on a directory covers
 * everything beneath it. So that a pidfile next to the disk images does not
 * make the images writable, a regular file QEMU would create (pidfile, log,
 * chardev output) is created by the launcher, empty and with QEMU's mode,
 * and only that file is granted; QEMU then opens it as it would its own.
 * A unix socket gets MAKE_SOCK on its directory (a socket cannot be made in
 * advance), and the stale socket QEMU would delete first is deleted by the
 * launcher: QEMU itself may not delete anything there. The costs: QEMU cannot
 * remove its pidfile and sockets when it stops (they stay, as after a crash,
 * and the next launch replaces them), and a pidfile exists, empty, from just
 * before QEMU starts. Directories QEMU makes temporary files in (snapshot=on's
 * overlay in $TMPDIR, a mem-path directory) are granted as a whole.
 */
import { dirname, join } from 'node:path';
import type { SiteConfig } from '../src/policy/config';
import { FILES_ENV, parseExtraFilesEnv, type ExtraFile } from '../src/policy/extra-files';
import { parseQemuArgs, type QemuArg } from '../src/policy/qemu-args';
import { FS, FS_FILE_RIGHTS, type LandlockPathRule } from '../src/policy/landlock-plan';
import { analyzeBlock, type BlockdevSpec, type DriveSpec } from './files-block';
import {
  Opts,
  absolute,
  argOf,
  argText,
  type FileFacts,
  type FilesInput,
  type FilesRefusal,
  type Need,
  type PathKind,
} from './files-common';
import * as opt from './files-options';

export type { ExtraFile, FileFacts, FilesInput, FilesRefusal, Need } from './files-common';

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

/** The options files=deny reads as legacy disk options (-hda FILE is `-drive file=FILE,...`). */
const LEGACY_DISKS: Readonly<Record<string, { readonly media?: 'cdrom' }>> = {
  hda: {},
  hdb: {},
  hdc: {},
  hdd: {},
  cdrom: { media: 'cdrom' },
  fda: {},
  fdb: {},
  sd: {},
  mtdblock: {},
  pflash: {},
};

/** Options whose value is a legacy chardev string. */
const CHARDEV_STRING_OPTIONS = new Set([
  'serial',
  'parallel',
  'monitor',
  'qmp',
  'qmp-pretty',
  'debugcon',
  'gdb',
  'virtioconsole',
  'qtest',
]);

/** Options that name no file, or only files inside the guest. */
const PATHLESS_OPTIONS = new Set([
  'cpu',
  'smp',
  'numa',
  'add-fd',
  'm',
  'k',
  'name',
  'uuid',
  'iscsi',
  'usbdevice',
  'vga',
  'g',
  'rotate',
  'append',
  'compat',
  'mon',
  'overcommit',
  'd',
  'dfilter',
  'seed',
  'xen-domid',
  'action',
  'loadvm',
  'rtc',
  'watchdog',
  'watchdog-action',
  'echr',
  'runas',
  'prom-env',
  'semihosting-config',
  'sandbox',
  'msg',
  'soundhw',
  'tb-size',
  'realtime',
  'bt',
  'balloon',
  'hdachs',
  'pcidevice',
  'clock',
  'startdate',
]);

/**
 * The operator's extra paths: the site config's `files`, then
 * QEMU_SANDBOXED_FILES. Throws ExtraFilesError for a malformed variable.
 */
export function extraFiles(
  config: Pick<SiteConfig, 'files'>,
  env: Readonly<Record<string, string | undefined>>,
): ExtraFile[] {
  const fromEnv = env[FILES_ENV];
  return [...(config.files ?? []), ...(fromEnv ? parseExtraFilesEnv(fromEnv) : [])];
}

/** Builds the plan. `qemuArgs`: the command line without -sandbox. */
export function planFiles(qemuArgs: readonly string[], input: FilesInput): FilesPlan {
  const needs: Need[] = [];
  const refusals: FilesRefusal[] = [];
  const entries: FilesEntry[] = [];
  // Each path is looked at several times (needs, merge, display): stat it once.
  const facts = memoized(input.facts);
  input = { ...input, facts };
  let pty = false;
  let kvm = false;
  let globalSnapshot = false;
  const drives: DriveSpec[] = [];
  const blockdevs: BlockdevSpec[] = [];
  const dataDirs: string[] = [];
  const firmware: Array<{ name: string; why: string }> = [];
  const sink: opt.Sink = {
    cwd: input.cwd,
    need: (n) => needs.push(n),
    refuse: (r) => refusals.push(r),
    pty: () => {
      pty = true;
    },
    firmware: (name, why) => firmware.push({ name, why }),
  };
  const abs = (p: string): string => absolute(input.cwd, p);
  const args = parseQemuArgs(qemuArgs);
  for (const a of args) if (a.name === 'snapshot' && a.value === undefined) globalSnapshot = true;

  const readconfigArgs: QemuArg[] = [];
  for (const a of args) {
    if (a.name === 'readconfig' && a.value !== undefined) {
      const text = readConfigText(facts, abs(a.value));
      needs.push({ kind: 'read', path: abs(a.value), why: `-readconfig ${a.value}` });
      if (text === undefined) continue;
      const parsed = parseReadconfig(text);
      if ('refuse' in parsed) {
        refusals.push({
          arg: argText('-readconfig', a.value),
          message: parsed.refuse,
          fix: 'put those options on the command line, or use files=allow',
        });
        continue;
      }
      readconfigArgs.push(...parsed.args);
    }
  }

  for (const a of [...args, ...readconfigArgs]) {
    const written = a.positional ? '' : (qemuArgs[a.index] ?? `[${a.name}]`);
    const arg = argText(written, a.value);
    const value = a.value ?? '';
    const legacy = LEGACY_DISKS[a.name];
    if (legacy !== undefined) {
      if (a.value === undefined) continue;
      const o = new Opts('');
      o.set('file', value);
      if (legacy.media) o.set('media', legacy.media);
      drives.push({
        arg,
        opts: o,
        readOnly: legacy.media === 'cdrom' || globalSnapshot,
        snapshot: globalSnapshot,
      });
      continue;
    }
    switch (a.name) {
      case 'drive': {
        const o = driveOpts(value);
        if ('refuse' in o) {
          refusals.push({ arg, message: o.refuse, fix: 'fix the -drive value' });
          break;
        }
        const snapshot = o.isOn('snapshot') || (globalSnapshot && !o.has('snapshot'));
        drives.push({
          arg,
          opts: o,
          readOnly:
            o.isOn('readonly') ||
            o.isOn('read-only') ||
            (o.get('media') ?? '').toLowerCase() === 'cdrom' ||
            snapshot,
          snapshot,
        });
        break;
      }
      case 'blockdev':
        blockdevs.push({ arg, opts: new Opts(value) });
        break;
      case 'chardev':
        opt.chardev(sink, arg, new Opts(value, 'backend'));
        break;
      case 'object':
        opt.object(sink, arg, new Opts(value, 'qom-type'));
        break;
      case 'device':
        opt.device(sink, arg, new Opts(value, 'driver'));
        break;
      case 'netdev':
      case 'nic':
      case 'net':
        opt.netdev(sink, arg, new Opts(value, 'type'), (p) => facts.kind(p) !== undefined);
        break;
      case 'fsdev':
      case 'virtfs':
        opt.fsdev(sink, arg, new Opts(value, 'fsdriver'));
        break;
      case 'tpmdev':
        opt.tpmdev(sink, arg, new Opts(value, 'type'), (p) => facts.kind(p) !== undefined);
        break;
      case 'audiodev':
      case 'audio':
        opt.audiodev(sink, arg, new Opts(value, 'driver'));
        break;
      case 'vnc':
        opt.vnc(sink, arg, value);
        break;
      case 'spice':
        opt.spice(sink, arg, new Opts(value));
        break;
      case 'display':
        opt.display(sink, arg, value);
        break;
      case 'incoming':
        opt.incoming(sink, arg, value);
        break;
      case 'machine':
      case 'M': {
        const o = new Opts(value, 'type');
        if (/(^|:)kvm(:|$)/.test(o.get('accel') ?? '')) kvm = true;
        for (const k of ['kernel', 'initrd', 'dtb', 'firmware']) {
          const f = o.get(k);
          if (f === undefined) continue;
          if (k === 'firmware') firmware.push({ name: f, why: `${arg}: firmware` });
          else needs.push({ kind: 'read', path: abs(f), why: `${arg}: ${k}` });
        }
        const dump = o.get('dumpdtb');
        if (dump !== undefined)
          needs.push({ kind: 'create', path: abs(dump), why: `${arg}: dumpdtb` });
        break;
      }
      case 'accel': {
        const o = new Opts(value, 'accel');
        const accel = o.get('accel') ?? '';
        if (accel === 'kvm') kvm = true;
        else if (accel === 'xen') {
          refusals.push({
            arg,
            message: 'Xen needs its device nodes and xenstore, which files=deny does not know',
            fix: 'use files=allow with Xen',
          });
        }
        break;
      }
      case 'enable-kvm':
        kvm = true;
        break;
      case 'kernel':
      case 'dtb':
      case 'shim':
        needs.push({ kind: 'read', path: abs(value), why: `${arg}: ${a.name}` });
        break;
      case 'initrd':
        initrd(value, arg, abs, facts, needs);
        break;
      case 'bios':
        firmware.push({ name: value, why: `${arg}: firmware` });
        break;
      case 'option-rom': {
        const o = new Opts(value, 'romfile');
        const rom = o.get('romfile');
        if (rom !== undefined) firmware.push({ name: rom, why: `${arg}: option ROM` });
        break;
      }
      case 'L':
        dataDirs.push(abs(value));
        needs.push({
          kind: 'tree',
          path: abs(value),
          write: false,
          why: `${arg}: firmware directory`,
        });
        break;
      case 'acpitable': {
        const o = new Opts(value);
        for (const k of ['file', 'data']) {
          for (const f of (o.get(k) ?? '').split(':').filter((x) => x !== '')) {
            needs.push({ kind: 'read', path: abs(f), why: `${arg}: ACPI table` });
          }
        }
        break;
      }
      case 'smbios':
      case 'fw_cfg': {
        const f = new Opts(value).get('file');
        if (f !== undefined)
          needs.push({ kind: 'read', path: abs(f), why: `${arg}: ${a.name} file` });
        break;
      }
      case 'boot': {
        const f = new Opts(value, 'order').get('splash');
        if (f !== undefined) needs.push({ kind: 'read', path: abs(f), why: `${arg}: boot splash` });
        break;
      }
      case 'pidfile':
        needs.push({ kind: 'create', path: abs(value), remove: true, why: `${arg}: pidfile` });
        break;
      case 'D':
        needs.push({
          kind: 'create',
          path: abs(value.replace(/%d/g, String(input.pid))),
          why: `${arg}: log file`,
        });
        break;
      case 'qtest-log':
      case 'dump-vmstate':
      case 'writeconfig':
        if (value !== '-' && value !== '/dev/null') {
          needs.push({ kind: 'create', path: abs(value), why: `${arg}: output file` });
        }
        break;
      case 'trace': {
        const o = new Opts(value, 'enable');
        const events = o.get('events');
        if (events !== undefined)
          needs.push({ kind: 'read', path: abs(events), why: `${arg}: trace events` });
        const file = o.get('file');
        if (file !== undefined)
          needs.push({ kind: 'create', path: abs(file), why: `${arg}: trace file` });
        break;
      }
      case 'icount': {
        const o = new Opts(value, 'shift');
        const f = o.get('rrfile');
        if (f !== undefined) {
          needs.push(
            o.get('rr') === 'record'
              ? { kind: 'create', path: abs(f), why: `${arg}: record/replay log` }
              : { kind: 'read', path: abs(f), why: `${arg}: record/replay log` },
          );
        }
        break;
      }
      case 'mem-path':
        needs.push({ kind: 'scratch', path: abs(value), why: `${arg}: guest memory` });
        break;
      case 'plugin': {
        const f = new Opts(value, 'file').get('file');
        if (f !== undefined) needs.push({ kind: 'read', path: abs(f), why: `${arg}: TCG plugin` });
        break;
      }
      case 'global': {
        const m = /^([^.=,]+)\.([^=]+)=(.*)$/.exec(value);
        const o = m ? undefined : new Opts(value);
        const prop = m ? m[2] : o?.get('property');
        const val = m ? m[3] : o?.get('value');
        if (prop === 'romfile' && val !== undefined && val !== '') {
          firmware.push({ name: val, why: `${arg}: option ROM` });
        }
        break;
      }
      case 'set':
        refusals.push({
          arg,
          message: '-set changes an option after files=deny has read it',
          fix: 'write the value into the option itself',
        });
        break;
      case 'chroot':
        refusals.push({
          arg,
          message: 'after -chroot every path QEMU opens means another file than the one named',
          fix: 'drop -chroot (files=deny confines QEMU without it), or use files=allow',
        });
        break;
      case 'run-with':
        if (new Opts(value).has('chroot')) {
          refusals.push({
            arg,
            message: 'after chroot= every path QEMU opens means another file than the one named',
            fix: 'drop chroot= (files=deny confines QEMU without it), or use files=allow',
          });
        }
        break;
      case 'readconfig':
        break;
      default:
        if (CHARDEV_STRING_OPTIONS.has(a.name)) {
          if (a.value !== undefined) opt.chardevString(sink, arg, value, a.name);
        } else if (a.name === 'nographic' || a.name === 'daemonize') {
          // -nographic puts the serial port and monitor on stdio; -daemonize reopens /dev/null.
        } else if (a.value !== undefined && !PATHLESS_OPTIONS.has(a.name)) {
          // An option with a value that neither this module nor the table above knows.
          refusals.push({
            arg,
            message: `files=deny does not know whether -${a.name} names a file`,
            fix: 'use files=allow for this command line',
          });
        }
    }
  }

  // The default accelerator is TCG first ("tcg:kvm"), unless QEMU's name ends in kvm.
  if (!args.some((a) => a.name === 'accel' || a.name === 'machine' || a.name === 'M')) {
    if (/kvm$/.test(input.binary)) kvm = true;
  }
  if (kvm) needs.push({ kind: 'device', path: '/dev/kvm', write: true, why: 'KVM' });

  const block = analyzeBlock(drives, blockdevs, input);
  needs.push(...block.needs);
  refusals.push(...block.refusals);

  for (const f of firmware) {
    // qemu_find_file: the name as given when it exists (relative to the cwd),
    // else the data directories (-L, then the system ones, already readable).
    const given = abs(f.name);
    if (f.name.includes('/') || facts.kind(given) !== undefined) {
      needs.push({ kind: 'read', path: given, why: f.why });
    } else {
      for (const d of dataDirs) needs.push({ kind: 'read', path: join(d, f.name), why: f.why });
    }
  }

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
  if (pty) system('/dev/pts', FS.READ_FILE | FS.WRITE_FILE | FS.IOCTL_DEV, 'a pty chardev');
  system(input.binary, FS.READ_FILE | FS.EXECUTE, 'the QEMU binary');

  // ---- the command line's needs and the extra paths, as rules -----------------
  const prepare: FilePreparation[] = [];
  const created = new Set<string>();
  const kindOf = (p: string): PathKind | undefined =>
    facts.kind(p) ?? (created.has(p) ? 'file' : undefined);
  for (const n of needs) {
    entries.push(...needRules(n, facts, { prepare, created, refusals }));
  }
  for (const e of input.extras) {
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
    refusals: dedupeRefusals(refusals),
  };
}

/** The same facts, each stat and realpath done once per plan. */
function memoized(facts: FileFacts): FileFacts {
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

/** -drive's options, with a json: filename merged in (it describes the top node itself). */
function driveOpts(value: string): Opts | { readonly refuse: string } {
  const o = new Opts(value);
  if (o.malformed) return { refuse: 'the -drive value cannot be read' };
  const file = o.get('file');
  if (file !== undefined && /^json:/i.test(file)) {
    const json = new Opts(file.slice(5));
    if (json.malformed || !file.slice(5).trim().startsWith('{')) {
      return {
        refuse:
          'the json: filename is not a JSON object (inside -drive, each comma is written twice: ,,)',
      };
    }
    o.delete('file');
    for (const k of json.keys()) o.set(k, json.get(k) ?? '');
  }
  return o;
}

/**
 * -initrd: one file, or for multiboot kernels "mod1 args,mod2" (commas
 * doubled inside a name): each module's file is read.
 */
function initrd(
  value: string,
  arg: string,
  abs: (p: string) => string,
  facts: FileFacts,
  needs: Need[],
): void {
  if (facts.kind(abs(value)) !== undefined || !value.includes(',')) {
    needs.push({ kind: 'read', path: abs(value), why: `${arg}: initrd` });
    return;
  }
  for (const mod of value.split(/(?<!,),(?!,)/)) {
    const file = mod.replace(/,,/g, ',').split(' ')[0];
    if (file !== '') needs.push({ kind: 'read', path: abs(file), why: `${arg}: multiboot module` });
  }
}

function readConfigText(facts: FileFacts, path: string): string | undefined {
  try {
    return facts.readHead(path, 1024 * 1024).toString('utf8');
  } catch {
    return undefined; // QEMU fails to read it, and says so
  }
}

/** -readconfig groups, as the options they stand for. */
const READCONFIG_GROUPS: Readonly<Record<string, string>> = {
  drive: 'drive',
  chardev: 'chardev',
  device: 'device',
  netdev: 'netdev',
  net: 'net',
  object: 'object',
  machine: 'machine',
  accel: 'accel',
  fsdev: 'fsdev',
  virtfs: 'virtfs',
  global: 'global',
  'boot-opts': 'boot',
  memory: 'm',
  'smp-opts': 'smp',
  numa: 'numa',
  name: 'name',
  spice: 'spice',
  vnc: 'vnc',
  audiodev: 'audiodev',
  tpmdev: 'tpmdev',
  iscsi: 'iscsi',
  icount: 'icount',
  rtc: 'rtc',
  mon: 'mon',
  fw_cfg: 'fw_cfg',
  'add-fd': 'add-fd',
  sandbox: 'sandbox',
  msg: 'msg',
  trace: 'trace',
  incoming: 'incoming',
};

/**
 * QEMU's config file format (qemu_config_parse): `[group]` or `[group "id"]`
 * sections of `key = "value"` lines; each section is the option of that name.
 */
export function parseReadconfig(
  text: string,
): { readonly args: QemuArg[] } | { readonly refuse: string } {
  const args: QemuArg[] = [];
  let current: { name: string; items: string[] } | undefined;
  const flush = (): void => {
    if (current) args.push({ name: current.name, value: current.items.join(','), index: -1 });
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[([^\]\s"]+)(?:\s+"([^"]*)")?\]$/.exec(line);
    if (section) {
      flush();
      const name = READCONFIG_GROUPS[section[1]];
      if (name === undefined)
        return {
          refuse: `the config file has a [${section[1]}] section, which files=deny does not read`,
        };
      current = {
        name,
        items: section[2] !== undefined ? [`id=${section[2].replace(/,/g, ',,')}`] : [],
      };
      continue;
    }
    const item = /^([^\s=]+)\s*=\s*"([^"]*)"$/.exec(line);
    if (!item || !current) return { refuse: `cannot read the config file line "${line}"` };
    current.items.push(`${item[1]}=${item[2].replace(/,/g, ',,')}`);
  }
  flush();
  return { args };
}
