/**
 * QEMU's command line, read the way softmmu/vl.c reads it, so that taking
 * `-sandbox` out never changes the meaning of anything else.
 *
 * vl.c's lookup_opt(): an argument that does not start with '-' is a disk
 * image (as if -hda); `--foo` is the same as `-foo`; the option name is the
 * whole rest of the argument (QEMU has no `-foo=bar` form); and whether the
 * option takes a value decides what the next argument is: in
 * `-append -sandbox` the "-sandbox" is a kernel command line, not an option.
 * A value-taking option at the very end fails with "requires an argument".
 *
 * `-sandbox=VALUE` / `--sandbox=VALUE` are our extension (QEMU itself only
 * takes the value as the next argument); every other argument goes to QEMU
 * byte for byte.
 */
import { SandboxOptionError, readOptValue, splitQemuOpts } from './sandbox-option';

/**
 * Every qemu-system-* option that takes an argument (DEF(..., HAS_ARG, ...) in
 * qemu-options.hx), QEMU 7.2 through 10.x, including target- and
 * build-specific ones and ones removed within that range, plus a few older
 * ones. A QEMU that lacks one refuses it anyway, so consuming its argument
 * here is harmless, while not consuming it could make us take a value for an
 * option (`-soundhw -sandbox` on an old QEMU).
 */
export const QEMU_OPTIONS_WITH_ARG: ReadonlySet<string> = new Set([
  // Standard options
  'machine',
  'M',
  'cpu',
  'accel',
  'smp',
  'numa',
  'add-fd',
  'set',
  'global',
  'boot',
  'm',
  'mem-path',
  'k',
  'audio', // 7.1+
  'audiodev',
  'device',
  'name',
  'uuid',
  // Block devices
  'fda',
  'fdb',
  'hda',
  'hdb',
  'hdc',
  'hdd',
  'cdrom',
  'blockdev',
  'drive',
  'mtdblock',
  'sd',
  'pflash',
  'fsdev',
  'virtfs',
  'iscsi',
  // USB
  'usbdevice',
  // Display
  'display',
  'spice',
  'vga',
  'g',
  'vnc',
  'rotate', // ARM PXA only; gone with those boards in 9.x/10.x
  // i386 / firmware tables
  'acpitable',
  'smbios',
  // Network
  'netdev',
  'nic',
  'net',
  // Character devices, TPM
  'chardev',
  'tpmdev',
  // Boot image
  'bios',
  'kernel',
  'shim', // 10.x
  'append',
  'initrd',
  'dtb',
  // Debug / expert
  'compat',
  'fw_cfg',
  'serial',
  'parallel',
  'monitor',
  'qmp',
  'qmp-pretty',
  'mon',
  'debugcon',
  'pidfile',
  'overcommit',
  'gdb',
  'd',
  'D',
  'dfilter',
  'seed',
  'L',
  'xen-domid',
  'action',
  'loadvm',
  'option-rom',
  'rtc',
  'icount',
  'watchdog', // removed in 9.0
  'watchdog-action',
  'echr',
  'incoming',
  'chroot', // removed in 9.1 (use -run-with chroot=)
  'runas', // removed in 10.0 (use -run-with user=)
  'prom-env',
  'semihosting-config',
  'sandbox',
  'readconfig',
  'trace',
  'plugin',
  'qtest',
  'qtest-log',
  'run-with', // 9.0+
  'msg',
  'dump-vmstate',
  'object',
  // Before 7.2: gone from the range above, but an old QEMU (or a copied
  // command line) may still carry them, and each took an argument.
  'soundhw', // removed in 7.1
  'tb-size', // removed in 6.0 (use -accel tcg,tb-size=)
  'realtime', // removed in 6.0 (use -overcommit)
  'writeconfig', // removed in 6.x
  'bt',
  'balloon',
  'hdachs',
  'virtioconsole',
  'pcidevice',
  'clock',
  'startdate',
]);

/**
 * The options without an argument, same range. Not needed to split argv
 * (anything not in the table above takes none), but it tells a real flag from
 * a typo for tools such as preflight.
 */
/**
 * Options whose value is a legacy chardev string (`tcp::4444,server=on`,
 * `unix:/path`, `file:/path`, `mon:stdio`...), as qemu_chr_new() reads it.
 */
export const CHARDEV_STRING_OPTIONS: ReadonlySet<string> = new Set([
  'serial',
  'parallel',
  'monitor',
  'qmp',
  'qmp-pretty',
  'debugcon',
  'gdb',
  'virtioconsole',
]);

/** Options whose value is a block filename (-hda FILE is `-drive file=FILE,...`). */
export const LEGACY_DISK_OPTIONS: ReadonlySet<string> = new Set([
  'hda',
  'hdb',
  'hdc',
  'hdd',
  'cdrom',
  'fda',
  'fdb',
  'sd',
  'mtdblock',
  'pflash',
]);

export const QEMU_OPTIONS_WITHOUT_ARG: ReadonlySet<string> = new Set([
  'h',
  'help',
  'version',
  'mem-prealloc',
  'snapshot',
  'usb',
  'nographic',
  'full-screen',
  'sdl', // removed in 9.x
  'curses', // removed in 9.x
  'alt-grab', // removed in 8.x
  'ctrl-grab', // removed in 8.x
  'portrait',
  'win2k-hack',
  'no-fd-bootchk',
  'no-acpi', // removed in 9.x
  'no-hpet', // removed in 9.x
  'preconfig',
  'S',
  's',
  'singlestep', // removed in 9.0
  'enable-kvm',
  'xen-attach',
  'xen-domid-restrict',
  'no-reboot',
  'no-shutdown',
  'daemonize',
  'only-migratable',
  'nodefaults',
  'semihosting',
  'old-param',
  'no-user-config',
  'async-teardown', // 8.0-8.2
  'enable-sync-profile',
  'perfmap',
  'jitdump',
]);

/** True when QEMU option `name` (no dashes) consumes the next argument. */
export function takesArgument(name: string): boolean {
  return QEMU_OPTIONS_WITH_ARG.has(name);
}

/** A QEMU option we do not know of at all (QEMU itself would say "invalid option"). */
export function isKnownQemuOption(name: string): boolean {
  return QEMU_OPTIONS_WITH_ARG.has(name) || QEMU_OPTIONS_WITHOUT_ARG.has(name);
}

/** One option (or positional disk image) of a QEMU command line. */
export interface QemuArg {
  /** The option without its dashes; "hda" for a positional disk image. */
  readonly name: string;
  /** Its argument, when it takes one (undefined if missing at the end). */
  readonly value?: string;
  /** Index of the option itself in argv. */
  readonly index: number;
  /** A bare argument QEMU reads as a disk image (`qemu-system-x86_64 disk.img`). */
  readonly positional?: boolean;
}

/** The option name of an argument that starts with '-' ("--foo" and "-foo" -> "foo"). */
function optionName(arg: string): string {
  return arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
}

/** `-sandbox=X` / `--sandbox=X`: our joined form. */
function joinedSandbox(arg: string): string | undefined {
  const m = /^--?sandbox=/.exec(arg);
  return m ? arg.slice(m[0].length) : undefined;
}

/**
 * Splits a QEMU command line (argv without the program name) into options,
 * in order. Unknown options are reported as flags (QEMU refuses them anyway).
 */
export function parseQemuArgs(argv: readonly string[]): QemuArg[] {
  const out: QemuArg[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-')) {
      out.push({ name: 'hda', value: arg, index: i, positional: true });
      continue;
    }
    const joined = joinedSandbox(arg);
    if (joined !== undefined) {
      out.push({ name: 'sandbox', value: joined, index: i });
      continue;
    }
    const name = optionName(arg);
    if (takesArgument(name)) {
      out.push(i + 1 < argv.length ? { name, value: argv[i + 1], index: i } : { name, index: i });
      i++;
    } else {
      out.push({ name, index: i });
    }
  }
  return out;
}

export interface ExtractedSandbox {
  /** Every other argument, unchanged and in order. */
  readonly qemuArgs: string[];
  /** The -sandbox values in command-line order. */
  readonly sandboxValues: string[];
}

/**
 * Takes every -sandbox out of a QEMU command line. Throws SandboxOptionError
 * ("-sandbox: requires an argument") for a trailing -sandbox, as QEMU would.
 */
export function extractSandbox(argv: readonly string[]): ExtractedSandbox {
  const qemuArgs: string[] = [];
  const sandboxValues: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-')) {
      qemuArgs.push(arg);
      continue;
    }
    const joined = joinedSandbox(arg);
    if (joined !== undefined) {
      sandboxValues.push(joined);
      continue;
    }
    const name = optionName(arg);
    if (name === 'sandbox') {
      if (i + 1 >= argv.length) {
        throw new SandboxOptionError('requires an argument', { origin: arg });
      }
      sandboxValues.push(argv[i + 1]);
      i++;
      continue;
    }
    qemuArgs.push(arg);
    if (takesArgument(name) && i + 1 < argv.length) {
      // The next argument belongs to this option, whatever it looks like.
      qemuArgs.push(argv[i + 1]);
      i++;
    }
  }
  return { qemuArgs, sandboxValues };
}

/**
 * The VM's name as QEMU reads `-name`: a QemuOpts list whose implied key is
 * `guest` (`-name NAME` or `-name guest=NAME,debug-threads=on`), merged
 * across several -name options (merge_lists), so the last guest= wins.
 * libvirt passes the domain name this way. Undefined when there is none.
 */
export function vmNameOf(qemuArgs: readonly string[]): string | undefined {
  let name: string | undefined;
  for (const a of parseQemuArgs(qemuArgs)) {
    if (a.name !== 'name' || a.value === undefined) continue;
    for (const item of splitQemuOpts(a.value, 'guest')) {
      if (item.name === 'guest') name = item.value;
    }
  }
  return name;
}

/** One item of a QEMU `a=b,c=d` list. */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** Written as a short-form boolean (`server` -> on, `nowait` -> wait=off). */
  readonly flag?: boolean;
}

/** Flattens parsed JSON the way QEMU's keyval dotted keys name it (addr.type, a.0). */
function flattenJson(v: unknown, prefix: string, out: KeyValue[]): void {
  if (v !== null && typeof v === 'object') {
    const entries = Array.isArray(v)
      ? v.map((x, i) => [String(i), x] as const)
      : Object.entries(v as Record<string, unknown>);
    for (const [k, x] of entries) flattenJson(x, prefix ? `${prefix}.${k}` : k, out);
    return;
  }
  const value = typeof v === 'boolean' ? (v ? 'on' : 'off') : v === null ? '' : String(v);
  out.push({ key: prefix, value });
}

/**
 * QEMU's `key=value,...` option syntax: `,,` is a literal comma, the first
 * item may omit `impliedKey=`, and later items without `=` are short-form
 * booleans (`foo` -> foo=on, `nofoo` -> foo=off). A value that starts with `{`
 * is the JSON form (-object, -blockdev, -netdev, -device... accept it since
 * QEMU 6.0/7.x, and libvirt uses it); it is flattened to dotted keys, booleans
 * as on/off. Throws on malformed JSON.
 */
export function parseKeyValueList(s: string, impliedKey?: string): KeyValue[] {
  if (s.trimStart().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch (e) {
      throw new Error(`invalid JSON option value: ${(e as Error).message}`);
    }
    const out: KeyValue[] = [];
    flattenJson(parsed, '', out);
    return out;
  }
  return splitQemuOpts(s, impliedKey).map((i) =>
    i.flag ? { key: i.name, value: i.value, flag: true } : { key: i.name, value: i.value },
  );
}

/** Re-exported for callers that split a single value by hand. */
export { readOptValue };
