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
import { join } from 'node:path';
import type { SiteConfig } from '../policy/config';
import { FILES_ENV, parseExtraFilesEnv, type ExtraFile } from '../policy/extra-files';
import {
  CHARDEV_STRING_OPTIONS,
  LEGACY_DISK_OPTIONS,
  parseQemuArgs,
  type QemuArg,
} from '../policy/qemu-args';
import { analyzeBlock, type BlockdevSpec, type DriveSpec } from './files-block';
import {
  Opts,
  absolute,
  argText,
  type FileFacts,
  type FilesInput,
  type FilesRefusal,
  type Need,
} from './files-common';
import * as opt from './files-options';
import { parseReadconfig, readConfigText } from './files-readconfig';
import { buildPlan, memoized, type FilesPlan } from './files-rules';

export type { ExtraFile, FileFacts, FilesInput, FilesRefusal, Need } from './files-common';
export { ETC_SECRETS, accessWords } from './files-rules';
export type { FilePreparation, FilesEntry, FilesPlan } from './files-rules';
export { parseReadconfig } from './files-readconfig';

/** The legacy disk options, each read as `-drive file=FILE,...` (-cdrom with media=cdrom). */
const LEGACY_DISKS: Readonly<Record<string, { readonly media?: 'cdrom' }>> = Object.fromEntries(
  [...LEGACY_DISK_OPTIONS].map((name) => [name, name === 'cdrom' ? { media: 'cdrom' } : {}]),
);

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

  return buildPlan({ needs, refusals, pty, binary: input.binary, extras: input.extras }, facts);
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
