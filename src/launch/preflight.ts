/**
 * Preflight: refuse, before anything runs, a QEMU command line that the
 * chosen -sandbox policy would break at run time. A filter that kills QEMU
 * when a guest first touches SMB, or when the VM shuts down and QEMU runs
 * /etc/qemu-ifdown, can take weeks to show; a refusal at start costs nothing.
 *
 * Each finding names the argument, the policy setting it collides with, what
 * would break and how to fix it. `preflight=warn` turns refusals into warnings
 * (the launcher decides; this module only finds and formats).
 */
import * as fs from 'fs';
import { parseQemuArgs } from '../policy/qemu-args';
import { Opts } from './opts';
import type { GroupName, SandboxPolicy } from '../policy/types';
import type { FilesRefusal } from './files-common';

export interface PreflightContext {
  /** Whether the launcher will set no-new-privileges (setuid helpers then fail). */
  readonly noNewPrivs: boolean;
  /**
   * The command line had its own -sandbox: then a probe-shaped command line
   * is not libvirt's capability probe (libvirt gives that one none).
   */
  readonly sandboxOnCommandLine?: boolean;
  /**
   * The keys the site minimum raised: for libvirt's capability probe the fix
   * is then in "minimum", not in the site default.
   */
  readonly raisedByMinimum?: ReadonlySet<string>;
  /** For the default tap scripts; fs.existsSync unless a test injects one. */
  readonly fileExists?: (p: string) => boolean;
  /**
   * The QEMU binary that will be exec'd and, when it is a script, its `#!`
   * line: the kernel then execs the interpreter, which execs the real QEMU,
   * a second exec that spawn=deny refuses (ENOSYS) after ours.
   */
  readonly binary?: { readonly path: string; readonly interpreter?: string };
}

export interface PreflightFinding {
  /** The argument as written (option and value), e.g. "-netdev bridge,id=n0". */
  readonly arg: string;
  /**
   * The filter group that breaks it, no-new-privs (not a group: a process
   * flag), or files (files=deny's Landlock ruleset, not a seccomp group).
   */
  readonly group: GroupName | 'no-new-privs' | 'files';
  /** The setting at fault, e.g. "spawn=deny", "network=deny", "no-new-privileges". */
  readonly setting: string;
  /** One line: what would break, and when. */
  readonly message: string;
  /** One line: how to make the command line and the policy agree. */
  readonly fix: string;
}

// ---------------------------------------------------------------------------
// The checks.
// ---------------------------------------------------------------------------

/** QEMU's default tap scripts (net/tap.c DEFAULT_NETWORK_SCRIPT / _DOWN_SCRIPT). */
const DEFAULT_IFUP = '/etc/qemu-ifup';
const DEFAULT_IFDOWN = '/etc/qemu-ifdown';

/** Block drivers that talk to a server over IP (unless given a unix socket). */
const NET_BLOCK_DRIVERS = new Set([
  'nbd',
  'http',
  'https',
  'ftp',
  'ftps',
  'iscsi',
  'ssh',
  'nfs',
  'gluster',
  'rbd',
]);

/** Block filenames with a network protocol prefix (unix-socket forms excluded below). */
const NET_BLOCK_URL =
  /^(nbd|nbd\+tcp|https?|ftps?|iscsi|iser|ssh|nfs|gluster|gluster\+tcp|gluster\+rdma|rbd|sheepdog)(:|$)/i;

/** Legacy chardev strings (-serial, -monitor, -qmp, ...): the backends that use IP. */
const IP_CHARDEV_PREFIX = /^(tcp|telnet|tn3270|websocket|udp):/i;

/** Options whose value is a block filename ("hda" also covers a bare, positional image). */
const LEGACY_DISK_OPTIONS = new Set([
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

const CHARDEV_STRING_OPTIONS = new Set([
  'serial',
  'parallel',
  'monitor',
  'qmp',
  'qmp-pretty',
  'debugcon',
]);

type Add = (f: Omit<PreflightFinding, 'arg'>) => void;

/** Where a block filename opens an IP connection, say which protocol; else undefined. */
function networkBlockFilename(filename: string): string | undefined {
  const f = filename.trim();
  if (/^json:/i.test(f)) return networkBlockOptions(new Opts(f.slice(5)));
  const m = NET_BLOCK_URL.exec(f);
  if (!m) return undefined;
  // nbd:unix:/path is the legacy unix form; nbd+unix:// and gluster+unix:// are excluded by the regex.
  if (/^nbd:unix:/i.test(f)) return undefined;
  return m[1].toLowerCase();
}

/** Looks at driver keys (driver, file.driver, file.file.driver...) and filenames in a flat map. */
function networkBlockOptions(opts: Opts): string | undefined {
  const get = (k: string): string | undefined => opts.get(k);
  for (const key of opts.keys()) {
    const value = get(key) ?? '';
    if (key === 'driver' || key.endsWith('.driver')) {
      const driver = value.toLowerCase();
      if (!NET_BLOCK_DRIVERS.has(driver)) continue;
      const p = key.slice(0, -'driver'.length);
      // nbd and gluster also accept unix sockets; those open no IP socket.
      const unix =
        get(`${p}server.type`) === 'unix' ||
        get(`${p}server.0.type`) === 'unix' ||
        get(`${p}path`) !== undefined ||
        get(`${p}server.path`) !== undefined;
      if (!unix) return driver;
    } else if (key === 'file' || key === 'filename' || key.endsWith('.filename')) {
      const proto = networkBlockFilename(value);
      if (proto) return proto;
    }
  }
  return undefined;
}

function checkNetClient(
  kind: string,
  o: Opts,
  p: SandboxPolicy,
  ctx: PreflightContext,
  add: Add,
): void {
  const type = (o.get('type') ?? '').toLowerCase();
  const spawnDenied = p.spawn === 'deny';
  const netDenied = p.network === 'deny';
  const bridgeHelper = (what: string): void => {
    if (spawnDenied) {
      add({
        group: 'spawn',
        setting: 'spawn=deny',
        message: `${what} forks and executes qemu-bridge-helper; spawn=deny makes that fail`,
        fix: 'use spawn=allow, or pass a pre-opened tap fd with -netdev tap,fd=N',
      });
    }
    if (netDenied) {
      add({
        group: 'network',
        setting: 'network=deny',
        message: `${what}: the helper creates the tap with TUNSETIFF under QEMU's filter, which network=deny refuses`,
        fix: 'pass a pre-opened tap fd with -netdev tap,fd=N (as libvirt does), or use network=allow',
      });
    }
    if (ctx.noNewPrivs) {
      add({
        group: 'no-new-privs',
        setting: 'no-new-privileges',
        message: `${what} relies on the setuid-root qemu-bridge-helper, which no-new-privileges disarms`,
        fix:
          'pass a pre-opened tap fd with -netdev tap,fd=N, or run with CAP_SYS_ADMIN and ' +
          'elevateprivileges=allow (no-new-privileges is then not set)',
      });
    }
  };
  switch (type) {
    case 'bridge':
      bridgeHelper(`${kind} bridge`);
      break;
    case 'tap': {
      if (o.has('helper')) {
        bridgeHelper(`${kind} tap,helper=`);
        break;
      }
      // With a pre-opened fd QEMU runs no script (and refuses script= with fd=).
      if (o.has('fd') || o.has('fds')) break;
      if (netDenied) {
        add({
          group: 'network',
          setting: 'network=deny',
          message: `${kind} tap opens /dev/net/tun and creates its interface with TUNSETIFF; network=deny refuses that`,
          fix: 'pass a pre-opened tap fd with -netdev tap,fd=N (as libvirt does), or use network=allow',
        });
      }
      // QEMU runs the default scripts without checking that they exist (net/tap.c);
      // a missing one fails QEMU with or without us, so only existing ones count.
      const fileExists = ctx.fileExists ?? fs.existsSync;
      const script = (key: string, def: string): string | undefined => {
        const v = o.get(key);
        if (v === undefined) return fileExists(def) ? def : undefined;
        return v === '' || v.toLowerCase() === 'no' ? undefined : v;
      };
      const up = script('script', DEFAULT_IFUP);
      const down = script('downscript', DEFAULT_IFDOWN);
      if (spawnDenied && (up || down)) {
        const runs = [up && `${up} at start`, down && `${down} when the VM stops`]
          .filter(Boolean)
          .join(' and ');
        add({
          group: 'spawn',
          setting: 'spawn=deny',
          message: `${kind} tap runs ${runs}; spawn=deny makes that fail`,
          fix:
            'set up the tap device beforehand and add script=no,downscript=no, or pass a ' +
            'pre-opened tap fd with -netdev tap,fd=N, or use spawn=allow',
        });
      }
      break;
    }
    case 'user': {
      if (netDenied) {
        add({
          group: 'network',
          setting: 'network=deny',
          message: `${kind} user (slirp) opens IP sockets for every guest connection; network=deny makes them fail`,
          fix: 'use -netdev tap,fd=N (or -nic none), or use network=allow',
        });
      }
      if (spawnDenied && o.has('smb')) {
        add({
          group: 'spawn',
          setting: 'spawn=deny',
          message: `${kind} user,smb= starts smbd when the guest first uses the share; spawn=deny makes that fail`,
          fix: 'share files with virtiofs or -virtfs instead, or use spawn=allow',
        });
      }
      const cmdFwd = o.keys().some((k) => k.startsWith('guestfwd') && /-cmd:/.test(o.get(k) ?? ''));
      if (spawnDenied && cmdFwd) {
        add({
          group: 'spawn',
          setting: 'spawn=deny',
          message: `${kind} user,guestfwd=...-cmd: runs a command per guest connection; spawn=deny makes that fail`,
          fix: 'forward to a chardev (guestfwd=tcp:ip:port-chardev:id) instead, or use spawn=allow',
        });
      }
      break;
    }
    case 'socket':
    case 'l2tpv3':
    case 'stream':
    case 'dgram': {
      if (!netDenied) break;
      const inet =
        type === 'l2tpv3' ||
        (type === 'socket' && !o.has('fd')) ||
        ['addr.type', 'remote.type', 'local.type'].some((k) => o.get(k) === 'inet');
      if (inet) {
        add({
          group: 'network',
          setting: 'network=deny',
          message: `${kind} ${type} opens an IP socket; network=deny makes that fail`,
          fix: 'use a unix socket (addr.type=unix) or a pre-opened fd, or use network=allow',
        });
      }
      break;
    }
    case 'passt':
      if (spawnDenied) {
        add({
          group: 'spawn',
          setting: 'spawn=deny',
          message: `${kind} passt starts the passt daemon; spawn=deny makes that fail`,
          fix: 'start passt yourself and use -netdev stream,addr.type=unix, or use spawn=allow',
        });
      }
      break;
  }
}

function checkChardevString(value: string, add: Add): void {
  // mon:<dev> multiplexes a monitor onto <dev>.
  const dev = value.replace(/^mon:/i, '');
  if (IP_CHARDEV_PREFIX.test(dev)) {
    add({
      group: 'network',
      setting: 'network=deny',
      message: `a ${dev.split(':')[0].toLowerCase()} character device opens an IP socket; network=deny makes that fail`,
      fix: 'use unix:/path,server=on,wait=off (or -chardev socket,fd=N), or use network=allow',
    });
  }
}

function checkVnc(value: string, add: Add): void {
  if (value.trim().toLowerCase() === 'none') return;
  const o = new Opts(value, 'vnc');
  const display = o.get('vnc') ?? '';
  const websocket = o.get('websocket');
  const tcpWebsocket = websocket !== undefined && !['off', 'no', 'false'].includes(websocket);
  if (!/^unix:/i.test(display) || tcpWebsocket) {
    add({
      group: 'network',
      setting: 'network=deny',
      message: 'VNC on TCP opens an IP socket; network=deny makes that fail',
      fix: 'use -vnc unix:/path (without websocket=), or use network=allow',
    });
  }
}

/**
 * libvirt probes every QEMU binary's capabilities with `-S -no-user-config
 * -nodefaults -nographic -machine none,accel=... -qmp unix:... -pidfile F
 * -daemonize` and no -sandbox (qemuProcessQMPLaunch), so for it the site
 * default policy applies, not libvirt's per-domain -sandbox string. Only
 * -machine none with -S and -qmp counts: no guest ever runs there.
 */
export function isLibvirtCapabilityProbe(qemuArgs: readonly string[]): boolean {
  const seen = new Set<string>();
  for (const a of parseQemuArgs(qemuArgs)) {
    if (a.name === 'machine' || a.name === 'M') {
      if (new Opts(a.value ?? '', 'type').get('type') === 'none') seen.add('machine none');
    } else seen.add(a.name);
  }
  return ['machine none', 'S', 'qmp', 'daemonize'].every((n) => seen.has(n));
}

/** What a -daemonize refusal adds for libvirt's probe: why it happens, and the fix that works. */
const libvirtProbeNote = (inMinimum: boolean): string =>
  "; this is libvirt's capability probe (-machine none -daemonize), which gets no -sandbox, so the site " +
  (inMinimum ? 'minimum applies' : 'default applies');
const libvirtProbeFix = (setting: string, inMinimum: boolean): string =>
  `take ${setting} out of the ${inMinimum ? 'site minimum ("minimum"' : 'site default ("sandbox"'} in the config file): libvirt passes its own -sandbox ` +
  '(with spawn=deny and elevateprivileges=deny) to every domain unless qemu.conf sets seccomp_sandbox = 0; ' +
  'preflight=warn would only move the failure to run time';

/**
 * The command line's conflicts with `policy`. Empty when the policy is off:
 * `-sandbox off` loads no filter and sets nothing.
 */
export function preflight(
  qemuArgs: readonly string[],
  policy: SandboxPolicy,
  ctx: PreflightContext,
): PreflightFinding[] {
  if (!policy.enable) return [];
  const findings: PreflightFinding[] = [];
  const elevDenied = policy.elevatePrivileges !== 'allow';
  const elevSetting = `elevateprivileges=${policy.elevatePrivileges}`;
  const spawnDenied = policy.spawn === 'deny';
  const netDenied = policy.network === 'deny';
  let netConfigured = false;
  const libvirtProbe = ctx.sandboxOnCommandLine !== true && isLibvirtCapabilityProbe(qemuArgs);
  // Raised by the site minimum: then the minimum, not the site default, is what to fix.
  const spawnRaised = ctx.raisedByMinimum?.has('spawn') === true;
  const elevRaised = ctx.raisedByMinimum?.has('elevateprivileges') === true;

  for (const arg of parseQemuArgs(qemuArgs)) {
    const written = arg.positional ? '' : qemuArgs[arg.index];
    const text = arg.value === undefined ? written : `${written} ${arg.value}`.trim();
    const add: Add = (f) => findings.push({ arg: shorten(text), ...f });
    const value = arg.value ?? '';
    switch (arg.name) {
      case 'daemonize':
        if (spawnDenied) {
          add({
            group: 'spawn',
            setting: 'spawn=deny',
            message:
              '-daemonize forks QEMU into the background; spawn=deny makes the fork fail' +
              (libvirtProbe ? libvirtProbeNote(spawnRaised) : ''),
            fix: libvirtProbe
              ? libvirtProbeFix('spawn=deny', spawnRaised)
              : 'drop -daemonize and let the caller run QEMU in the background (systemd, libvirt), or use spawn=allow',
          });
        }
        if (elevDenied) {
          add({
            group: 'elevateprivileges',
            setting: elevSetting,
            message:
              '-daemonize calls setsid(), which elevateprivileges denies' +
              (libvirtProbe ? libvirtProbeNote(elevRaised) : ''),
            fix: libvirtProbe
              ? libvirtProbeFix(elevSetting, elevRaised)
              : 'drop -daemonize and let the caller run QEMU in the background, or use elevateprivileges=allow',
          });
        }
        break;
      case 'runas':
      case 'run-with': {
        const o = arg.name === 'runas' ? undefined : new Opts(value);
        if (elevDenied && (o === undefined || o.has('user'))) {
          add({
            group: 'elevateprivileges',
            setting: elevSetting,
            message: `-${arg.name} switches user with setgroups/setgid/setuid, which elevateprivileges denies`,
            fix: 'start QEMU as the target user instead (setpriv, sudo -u, systemd User=), or use elevateprivileges=allow',
          });
        }
        if (spawnDenied && o?.isOn('async-teardown')) {
          add({
            group: 'spawn',
            setting: 'spawn=deny',
            message:
              'async-teardown clones a teardown process at start; spawn=deny makes that fail',
            fix: 'drop async-teardown=on, or use spawn=allow',
          });
        }
        break;
      }
      case 'async-teardown':
        if (spawnDenied) {
          add({
            group: 'spawn',
            setting: 'spawn=deny',
            message:
              '-async-teardown clones a teardown process at start; spawn=deny makes that fail',
            fix: 'drop -async-teardown, or use spawn=allow',
          });
        }
        break;
      case 'netdev':
      case 'nic':
      case 'net':
        netConfigured = true;
        checkNetClient(`-${arg.name}`, new Opts(value, 'type'), policy, ctx, add);
        break;
      case 'nodefaults':
        netConfigured = true;
        break;
      case 'chardev': {
        if (!netDenied) break;
        const o = new Opts(value, 'backend');
        const backend = (o.get('backend') ?? '').toLowerCase();
        const tcpSocket =
          backend === 'socket' &&
          !o.has('fd') &&
          !o.has('path') &&
          (o.has('host') || o.has('port'));
        if (tcpSocket || backend === 'udp') {
          add({
            group: 'network',
            setting: 'network=deny',
            message: `-chardev ${backend} on ${backend === 'udp' ? 'UDP' : 'TCP'} opens an IP socket; network=deny makes that fail`,
            fix: 'use -chardev socket,path=/path or a pre-opened fd=N, or use network=allow',
          });
        }
        break;
      }
      case 'gdb':
      case 's':
        if (netDenied) {
          // -s is -gdb tcp::1234; a bare port number means tcp::<port>.
          const dev = arg.name === 's' ? 'tcp::1234' : value;
          const tcp = /^\d+$/.test(dev.trim()) || IP_CHARDEV_PREFIX.test(dev);
          if (tcp) {
            add({
              group: 'network',
              setting: 'network=deny',
              message: `${arg.name === 's' ? '-s' : '-gdb'} listens on TCP for a debugger; network=deny makes that fail`,
              fix: 'use -gdb unix:/path,server=on,wait=off, or use network=allow',
            });
          }
        }
        break;
      case 'vnc':
        if (netDenied) checkVnc(value, add);
        break;
      case 'display': {
        // The type comes first; `-display vnc=<vnc options>` is a special form.
        const type = value.trim().split(/[,=]/)[0].toLowerCase();
        if (netDenied && type === 'vnc') {
          // -display vnc=<vnc options>: the same as -vnc <vnc options>.
          checkVnc(value.replace(/^vnc=?/i, ''), add);
        }
        if (spawnDenied && type === 'spice-app') {
          add({
            group: 'spawn',
            setting: 'spawn=deny',
            message: '-display spice-app launches a SPICE viewer; spawn=deny makes that fail',
            fix: 'use -spice unix=on,addr=/path and start the viewer yourself, or use spawn=allow',
          });
        }
        break;
      }
      case 'spice': {
        const o = new Opts(value);
        if (netDenied && !o.isOn('unix') && (o.has('port') || o.has('tls-port'))) {
          add({
            group: 'network',
            setting: 'network=deny',
            message: '-spice on a TCP port opens an IP socket; network=deny makes that fail',
            fix: 'use -spice unix=on,addr=/path, or use network=allow',
          });
        }
        break;
      }
      case 'incoming':
        checkIncoming(value, policy, add);
        break;
      case 'drive':
      case 'blockdev': {
        if (!netDenied) break;
        const proto = networkBlockOptions(new Opts(value));
        if (proto) addBlock(proto, add);
        break;
      }
      case 'object': {
        const o = new Opts(value, 'qom-type');
        if (netDenied && o.get('qom-type') === 'input-barrier') {
          add({
            group: 'network',
            setting: 'network=deny',
            message:
              '-object input-barrier connects to a Barrier server over TCP; network=deny makes that fail',
            fix: 'drop input-barrier, or use network=allow',
          });
        }
        break;
      }
      default:
        if (netDenied && CHARDEV_STRING_OPTIONS.has(arg.name)) checkChardevString(value, add);
        else if (netDenied && LEGACY_DISK_OPTIONS.has(arg.name)) {
          const proto = networkBlockFilename(value);
          if (proto) addBlock(proto, add);
        }
    }
  }

  // Without -nic/-net/-netdev/-nodefaults QEMU adds "-net nic -net user" (vl.c,
  // qemu_create_default_devices, when built with slirp as Debian's is).
  if (netDenied && !netConfigured) {
    findings.push({
      arg: '(no -nic/-net/-netdev/-nodefaults)',
      group: 'network',
      setting: 'network=deny',
      message: 'QEMU then adds a default NIC on user networking (slirp), which opens IP sockets',
      fix: 'add -nic none (or -nodefaults, or a -netdev of your own), or use network=allow',
    });
  }
  if (spawnDenied && ctx.binary?.interpreter !== undefined) {
    findings.push({
      arg: ctx.binary.path,
      group: 'spawn',
      setting: 'spawn=deny',
      message:
        `the QEMU binary is a script (#!${ctx.binary.interpreter}); whatever it runs next is a ` +
        'second exec, which spawn=deny refuses (ENOSYS) once our own exec went through',
      fix: 'point QEMU_SANDBOXED_BINARY (or the config binary) at the real qemu-system-* binary, or use spawn=allow',
    });
  }
  return findings;
}

/** files=deny's refusals (src/launch/files.ts) as preflight findings. */
export function filesFindings(refusals: readonly FilesRefusal[]): PreflightFinding[] {
  return refusals.map((r) => ({
    arg: r.arg,
    group: 'files' as const,
    setting: 'files=deny',
    message: r.message,
    fix: r.fix,
  }));
}

function addBlock(proto: string, add: Add): void {
  add({
    group: 'network',
    setting: 'network=deny',
    message: `a ${proto} block device connects to its server over IP; network=deny makes that fail`,
    fix: 'use a local file or an export on a unix socket (nbd+unix://), or use network=allow',
  });
}

function checkIncoming(value: string, p: SandboxPolicy, add: Add): void {
  let transport: string;
  const v = value.trim();
  if (v.startsWith('{')) {
    // QEMU 9.x accepts a MigrationChannel in JSON.
    const o = new Opts(v);
    const t = o.get('addr.transport') ?? '';
    transport = t === 'socket' ? (o.get('addr.type') ?? '') : t;
    if (transport === 'inet') transport = 'tcp';
  } else {
    transport = v.split(':')[0].toLowerCase();
  }
  if (transport === 'exec' && p.spawn === 'deny') {
    add({
      group: 'spawn',
      setting: 'spawn=deny',
      message:
        '-incoming exec: runs a command to read the migration stream; spawn=deny makes that fail',
      fix: 'use -incoming fd:N, unix:/path or defer, or use spawn=allow',
    });
  }
  if ((transport === 'tcp' || transport === 'rdma') && p.network === 'deny') {
    add({
      group: 'network',
      setting: 'network=deny',
      message: `-incoming ${transport}: listens on the network; network=deny makes that fail`,
      fix: 'use -incoming unix:/path or fd:N, or use network=allow',
    });
  }
}

function shorten(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * One line per finding, for stderr. In enforce mode the last line says how
 * to start anyway; in warn mode each line says the launch goes on.
 */
export function preflightReport(
  findings: readonly PreflightFinding[],
  mode: 'enforce' | 'warn',
): string[] {
  if (findings.length === 0) return [];
  const lead = mode === 'enforce' ? 'refused' : 'warning';
  const lines = findings.map(
    (f) =>
      `qemu-sandboxed: preflight ${lead}: '${f.arg}' (${f.setting}): ${f.message}; fix: ${f.fix}`,
  );
  if (mode === 'enforce') {
    lines.push(
      `qemu-sandboxed: not starting QEMU (${findings.length} preflight refusal${findings.length === 1 ? '' : 's'}); ` +
        'with preflight=warn in -sandbox QEMU starts, and these features fail at run time instead',
    );
  } else {
    lines.push(
      'qemu-sandboxed: starting anyway (preflight=warn): these features will fail at run time',
    );
  }
  return lines;
}
