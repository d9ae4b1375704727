/**
 * files=deny, everything but the block layer: which paths each QEMU option
 * names, and what QEMU does with them (read, write, create, bind a socket,
 * open a device...). Options this module cannot read become refusals, not
 * silent gaps: a path QEMU needs and the ruleset lacks fails at run time with
 * EACCES, which is what preflight exists to prevent.
 */
import { Opts, absolute, type FilesRefusal, type Need } from './files-common';

/** Where the analysis puts what it finds. */
export interface Sink {
  readonly cwd: string;
  need(n: Need): void;
  refuse(r: FilesRefusal): void;
  /** A pty backend: /dev/pts is needed (the pty's peer is opened by path). */
  pty(): void;
  /** A file QEMU looks up like firmware (qemu_find_file: as given if it exists, else its data dirs). */
  firmware(name: string, why: string): void;
}

const abs = (s: Sink, p: string): string => absolute(s.cwd, p);

/** Chardev backends that name no path. */
const PATHLESS_CHARDEVS = new Set([
  'null',
  'stdio',
  'vc',
  'msmouse',
  'wctablet',
  'braille',
  'testdev',
  'ringbuf',
  'memory',
  'mux',
  'spicevmc',
  'spiceport',
  'udp',
  'dbus',
  'qemu-vdagent',
  'console',
]);

/** -chardev BACKEND,... (and the backends of the JSON form). */
export function chardev(s: Sink, arg: string, o: Opts): void {
  const backend = (o.get('backend') ?? '').toLowerCase();
  const path = o.get('path');
  switch (backend) {
    case 'file':
      if (path !== undefined) {
        s.need({ kind: 'create', path: abs(s, path), why: `${arg}: chardev output file` });
      }
      if (o.get('input-path') !== undefined) {
        s.need({
          kind: 'read',
          path: abs(s, o.get('input-path') ?? ''),
          why: `${arg}: chardev input file`,
        });
      }
      return;
    case 'pipe':
      if (path !== undefined) pipe(s, arg, path);
      return;
    case 'serial':
    case 'tty':
    case 'parallel':
    case 'parport':
      if (path !== undefined) {
        s.need({
          kind: 'device',
          path: abs(s, path),
          write: true,
          why: `${arg}: host ${backend} device`,
        });
      }
      return;
    case 'socket':
      if (path !== undefined && o.isOn('server') && !o.isOn('abstract')) {
        s.need({ kind: 'socket', path: abs(s, path), why: `${arg}: listening unix socket` });
      }
      return;
    case 'pty':
      s.pty();
      if (path !== undefined) {
        s.need({ kind: 'symlink', path: abs(s, path), why: `${arg}: link to the pty` });
      }
      return;
    default:
      if (PATHLESS_CHARDEVS.has(backend)) return;
      s.refuse({
        arg,
        message: `chardev backend "${backend}": files=deny does not know which files it opens`,
        fix: 'use a socket, file, pty or stdio chardev, or files=allow',
      });
  }
}

/** A pipe chardev opens PATH.in and PATH.out, or PATH itself (existing FIFOs). */
function pipe(s: Sink, arg: string, path: string): void {
  for (const p of [`${path}.in`, `${path}.out`, path]) {
    s.need({ kind: 'write', path: abs(s, p), why: `${arg}: chardev pipe` });
  }
}

/**
 * A legacy chardev string (-serial, -monitor, -qmp, -parallel, -debugcon,
 * -gdb...), as qemu_chr_parse_compat() reads it.
 */
export function chardevString(s: Sink, arg: string, value: string, option: string): void {
  const v = value.replace(/^mon:/i, '');
  const lower = v.toLowerCase();
  if (
    ['none', 'null', 'stdio', 'msmouse', 'wctablet', 'braille', 'ringbuf', 'memory'].includes(
      lower,
    ) ||
    /^vc(:|$)/.test(lower) ||
    /^con:/.test(lower) ||
    /^chardev:/.test(lower) ||
    /^(tcp|telnet|tn3270|websocket|udp):/.test(lower) ||
    /^\d+$/.test(lower)
  ) {
    return;
  }
  if (lower === 'pty') {
    s.pty();
    return;
  }
  if (lower.startsWith('file:')) {
    s.need({ kind: 'create', path: abs(s, v.slice(5)), why: `${arg}: chardev output file` });
    return;
  }
  if (lower.startsWith('pipe:')) {
    pipe(s, arg, v.slice(5));
    return;
  }
  if (lower.startsWith('unix:')) {
    const o = new Opts(v.slice(5), 'path');
    const path = o.get('path');
    if (path !== undefined && o.isOn('server')) {
      s.need({ kind: 'socket', path: abs(s, path), why: `${arg}: listening unix socket` });
    }
    return;
  }
  if (v.startsWith('/dev/')) {
    s.need({ kind: 'device', path: v, write: true, why: `${arg}: host device` });
    return;
  }
  s.refuse({
    arg,
    message: `-${option} ${value}: files=deny cannot tell which files this character device opens`,
    fix: 'use unix:PATH,server=on,wait=off, file:PATH, pty, stdio or a -chardev, or files=allow',
  });
}

/** -object types that name no path. */
const PATHLESS_OBJECTS = new Set([
  'iothread',
  'main-loop',
  'thread-context',
  'memory-backend-ram',
  'memory-backend-memfd',
  'rng-builtin',
  'rng-egd',
  'throttle-group',
  'secret_keyring',
  'tls-cipher-suites',
  'authz-simple',
  'authz-pam',
  'authz-list',
  'filter-buffer',
  'filter-mirror',
  'filter-redirector',
  'filter-rewriter',
  'colo-compare',
  'input-barrier',
  'cryptodev-backend-builtin',
  'cryptodev-backend-lkcf',
  'cryptodev-vhost-user',
  'can-bus',
  'can-host-socketcan',
  'pr-manager-helper',
  'dbus-vmstate',
  'pef-guest',
  's390-pv-guest',
  'tdx-guest',
  'acpi-generic-initiator',
  'acpi-generic-port',
]);

/** -object TYPE,... */
export function object(s: Sink, arg: string, o: Opts): void {
  const type = o.get('qom-type') ?? '';
  const get = (k: string): string | undefined => o.get(k);
  switch (type) {
    case 'memory-backend-file': {
      const p = get('mem-path');
      if (p === undefined) return;
      const readonly = o.isOn('readonly') || o.isOn('rom');
      s.need(
        readonly
          ? { kind: 'read', path: abs(s, p), why: `${arg}: guest memory file (read-only)` }
          : { kind: 'scratch', path: abs(s, p), why: `${arg}: guest memory file or directory` },
      );
      return;
    }
    case 'memory-backend-epc':
      s.need({ kind: 'device', path: '/dev/sgx_vepc', write: true, why: `${arg}: SGX EPC` });
      return;
    case 'secret': {
      const f = get('file');
      if (f !== undefined) s.need({ kind: 'read', path: abs(s, f), why: `${arg}: secret file` });
      return;
    }
    case 'tls-creds-x509':
    case 'tls-creds-psk':
    case 'tls-creds-anon': {
      const d = get('dir');
      if (d !== undefined) {
        s.need({
          kind: 'tree',
          path: abs(s, d),
          write: false,
          why: `${arg}: TLS credentials directory`,
        });
      }
      return;
    }
    case 'authz-list-file': {
      const f = get('filename');
      if (f !== undefined)
        s.need({ kind: 'read', path: abs(s, f), why: `${arg}: authorization list` });
      return;
    }
    case 'rng-random': {
      const f = get('filename') ?? '/dev/urandom';
      s.need({ kind: 'read', path: abs(s, f), why: `${arg}: entropy source` });
      return;
    }
    case 'filter-dump': {
      const f = get('file');
      if (f !== undefined) s.need({ kind: 'create', path: abs(s, f), why: `${arg}: packet dump` });
      return;
    }
    case 'input-linux': {
      const f = get('evdev');
      if (f !== undefined) {
        s.need({ kind: 'device', path: abs(s, f), write: true, why: `${arg}: input device` });
      }
      return;
    }
    case 'sev-guest':
    case 'sev-snp-guest': {
      s.need({
        kind: 'device',
        path: get('sev-device') ?? '/dev/sev',
        write: true,
        why: `${arg}: SEV firmware device`,
      });
      for (const k of ['dh-cert-file', 'session-file']) {
        const f = get(k);
        if (f !== undefined) s.need({ kind: 'read', path: abs(s, f), why: `${arg}: ${k}` });
      }
      return;
    }
    case 'iommufd':
      if (get('fd') === undefined) {
        s.need({ kind: 'device', path: '/dev/iommu', write: true, why: `${arg}: iommufd` });
      }
      return;
    case 'igvm-cfg': {
      const f = get('file');
      if (f !== undefined) s.need({ kind: 'read', path: abs(s, f), why: `${arg}: IGVM file` });
      return;
    }
    default:
      if (PATHLESS_OBJECTS.has(type)) return;
      s.refuse({
        arg,
        message: `-object ${type}: files=deny does not know which files it opens`,
        fix: 'use files=allow for this VM',
      });
  }
}

/** -device DRIVER,... : the devices that open host paths, and romfile= of any. */
export function device(s: Sink, arg: string, o: Opts): void {
  const driver = o.get('driver') ?? '';
  const romfile = o.get('romfile');
  if (romfile !== undefined && romfile !== '') s.firmware(romfile, `${arg}: option ROM`);
  const dev = (path: string, why: string): void =>
    s.need({ kind: 'device', path, write: true, why: `${arg}: ${why}` });
  if (driver === 'loader') {
    const f = o.get('file');
    if (f !== undefined) s.need({ kind: 'read', path: abs(s, f), why: `${arg}: loaded file` });
  } else if (/^vfio-/.test(driver)) {
    dev('/dev/vfio', 'VFIO device assignment');
  } else if (/^vhost-vsock/.test(driver)) {
    if (o.get('vhostfd') === undefined) dev('/dev/vhost-vsock', 'vhost-vsock');
  } else if (/^vhost-scsi/.test(driver)) {
    if (o.get('vhostfd') === undefined) dev('/dev/vhost-scsi', 'vhost-scsi');
  } else if (driver === 'vhost-vdpa-device-pci') {
    const p = o.get('vhostdev');
    if (p !== undefined) dev(abs(s, p), 'vDPA device');
  } else if (driver === 'usb-host') {
    const p = o.get('hostdevice');
    dev(p === undefined ? '/dev/bus/usb' : abs(s, p), 'USB passthrough');
  } else if (driver === 'u2f-passthru') {
    const p = o.get('hidraw');
    if (p !== undefined) dev(abs(s, p), 'U2F key');
  } else if (/-gl(-|$)/.test(driver) || driver === 'vhost-user-gpu') {
    dev('/dev/dri', 'GPU render node');
  }
}

/** -netdev/-nic/-net TYPE,... */
export function netdev(
  s: Sink,
  arg: string,
  o: Opts,
  defaultScript: (name: string) => boolean,
): void {
  const type = (o.get('type') ?? '').toLowerCase();
  const tun = (why: string): void =>
    s.need({ kind: 'device', path: '/dev/net/tun', write: true, why: `${arg}: ${why}` });
  const vhostNet = (): void => {
    if (o.isOn('vhost') && o.get('vhostfd') === undefined && o.get('vhostfds') === undefined) {
      s.need({ kind: 'device', path: '/dev/vhost-net', write: true, why: `${arg}: vhost-net` });
    }
  };
  switch (type) {
    case 'tap': {
      vhostNet();
      if (o.has('fd') || o.has('fds')) return;
      if (o.has('helper')) {
        tun('the bridge helper opens the tap device');
        helper(s, arg, o.get('helper') ?? '');
        return;
      }
      tun('QEMU opens the tap device');
      for (const [key, dflt] of [
        ['script', '/etc/qemu-ifup'],
        ['downscript', '/etc/qemu-ifdown'],
      ] as const) {
        const v = o.get(key);
        const script = v === undefined ? (defaultScript(dflt) ? dflt : undefined) : v;
        if (script !== undefined && script !== '' && script.toLowerCase() !== 'no') {
          s.need({ kind: 'exec', path: abs(s, script), why: `${arg}: ${key}` });
        }
      }
      return;
    }
    case 'bridge':
      tun('the bridge helper opens the tap device');
      helper(s, arg, o.get('helper') ?? '');
      return;
    case 'user': {
      const tftp = o.get('tftp');
      if (tftp !== undefined) {
        s.need({ kind: 'tree', path: abs(s, tftp), write: false, why: `${arg}: TFTP root` });
      }
      if (o.has('smb')) {
        s.refuse({
          arg,
          message:
            'user,smb= writes an smbd configuration under /tmp and runs smbd, which files=deny does not allow',
          fix: 'share files with virtiofs or -virtfs instead, or use files=allow',
        });
      }
      return;
    }
    case 'vde':
      s.refuse({
        arg,
        message: 'vde creates its control sockets in directories files=deny does not know',
        fix: 'use a tap fd or a unix stream netdev, or files=allow',
      });
      return;
    case 'vhost-vdpa': {
      const p = o.get('vhostdev');
      if (p !== undefined && o.get('vhostfd') === undefined) {
        s.need({ kind: 'device', path: abs(s, p), write: true, why: `${arg}: vDPA device` });
      }
      return;
    }
    case 'stream':
      if (o.isOn('server') && o.get('addr.type') === 'unix' && o.get('addr.path') !== undefined) {
        s.need({
          kind: 'socket',
          path: abs(s, o.get('addr.path') ?? ''),
          why: `${arg}: listening unix socket`,
        });
      }
      return;
    case 'dgram':
      if (o.get('local.type') === 'unix' && o.get('local.path') !== undefined) {
        s.need({
          kind: 'socket',
          path: abs(s, o.get('local.path') ?? ''),
          why: `${arg}: unix datagram socket`,
        });
      }
      return;
    case 'netmap':
      s.need({
        kind: 'device',
        path: o.get('devname') ?? '/dev/netmap',
        write: true,
        why: `${arg}: netmap`,
      });
      return;
    case 'passt':
      s.refuse({
        arg,
        message: 'the passt netdev starts passt, which keeps files of its own',
        fix: 'start passt yourself and use -netdev stream,addr.type=unix, or use files=allow',
      });
      return;
    default:
      // nic, socket, l2tpv3, hubport, vhost-user, af-xdp...: no paths.
      return;
  }
}

/** The bridge helper: a system program (under /usr) unless helper= names another. */
function helper(s: Sink, arg: string, value: string): void {
  const path = value.split(/\s+/)[0];
  if (path !== '') s.need({ kind: 'exec', path: abs(s, path), why: `${arg}: bridge helper` });
}

/** -fsdev local,path=... / -virtfs local,path=... */
export function fsdev(s: Sink, arg: string, o: Opts): void {
  const driver = o.get('fsdriver') ?? '';
  const path = o.get('path');
  if (driver === 'local' && path !== undefined) {
    const write = !o.isOn('readonly');
    s.need({
      kind: 'tree',
      path: abs(s, path),
      write,
      why: `${arg}: 9p share${write ? '' : ' (read-only)'}`,
    });
  } else if (driver !== 'synth' && driver !== 'proxy' && driver !== '') {
    s.refuse({
      arg,
      message: `fsdev driver ${driver} is unknown to files=deny`,
      fix: 'use local, or files=allow',
    });
  }
}

/** -tpmdev passthrough,... */
export function tpmdev(s: Sink, arg: string, o: Opts, exists: (p: string) => boolean): void {
  if (o.get('type') !== 'passthrough') return;
  const path = o.get('path') ?? '/dev/tpm0';
  s.need({ kind: 'device', path: abs(s, path), write: true, why: `${arg}: host TPM` });
  const cancel = o.get('cancel-path');
  if (cancel !== undefined) {
    s.need({ kind: 'write', path: abs(s, cancel), why: `${arg}: TPM cancel file` });
    return;
  }
  // tpm_passthrough_open_sysfs_cancel(): the device's sysfs cancel file.
  const dev = path.split('/').pop() ?? '';
  for (const cls of ['tpm', 'misc']) {
    const p = `/sys/class/${cls}/${dev}/device/cancel`;
    if (exists(p)) s.need({ kind: 'write', path: p, why: `${arg}: TPM cancel file` });
  }
}

/** -audiodev DRIVER,... / -audio DRIVER,... */
export function audiodev(s: Sink, arg: string, o: Opts): void {
  const driver = o.get('driver') ?? '';
  switch (driver) {
    case 'none':
    case 'spice':
    case 'dbus':
    case '':
      return;
    case 'wav':
      s.need({
        kind: 'create',
        path: abs(s, o.get('path') ?? 'qemu.wav'),
        why: `${arg}: WAV output`,
      });
      return;
    case 'alsa':
      s.need({ kind: 'device', path: '/dev/snd', write: true, why: `${arg}: ALSA devices` });
      return;
    case 'oss':
      for (const k of ['out.dev', 'in.dev']) {
        s.need({
          kind: 'device',
          path: abs(s, o.get(k) ?? '/dev/dsp'),
          write: true,
          why: `${arg}: OSS device`,
        });
      }
      return;
    default:
      s.refuse({
        arg,
        message: `audio driver ${driver} reads the user's configuration and runtime files, which files=deny does not grant`,
        fix: 'use -audiodev none, spice, wav or alsa, or files=allow',
      });
  }
}

/** -vnc DISPLAY[,options] */
export function vnc(s: Sink, arg: string, value: string): void {
  const o = new Opts(value, 'vnc');
  const display = o.get('vnc') ?? '';
  if (/^unix:/i.test(display)) {
    s.need({ kind: 'socket', path: abs(s, display.slice(5)), why: `${arg}: VNC unix socket` });
  }
  for (const k of ['x509', 'x509verify']) {
    const d = o.get(k);
    if (d !== undefined && d !== 'on' && d !== '') {
      s.need({ kind: 'tree', path: abs(s, d), write: false, why: `${arg}: VNC TLS directory` });
    }
  }
}

/** -spice options */
export function spice(s: Sink, arg: string, o: Opts): void {
  const addr = o.get('addr');
  if (o.isOn('unix') && addr !== undefined) {
    s.need({ kind: 'socket', path: abs(s, addr), why: `${arg}: SPICE unix socket` });
  }
  const dir = o.get('x509-dir');
  if (dir !== undefined)
    s.need({ kind: 'tree', path: abs(s, dir), write: false, why: `${arg}: SPICE TLS directory` });
  for (const k of ['x509-key-file', 'x509-cert-file', 'x509-cacert-file', 'x509-dh-key-file']) {
    const f = o.get(k);
    if (f !== undefined) s.need({ kind: 'read', path: abs(s, f), why: `${arg}: ${k}` });
  }
  const node = o.get('rendernode');
  if (node !== undefined)
    s.need({ kind: 'device', path: abs(s, node), write: true, why: `${arg}: render node` });
  else if (o.isOn('gl'))
    s.need({ kind: 'device', path: '/dev/dri', write: true, why: `${arg}: OpenGL` });
}

/** -display TYPE[,options] */
export function display(s: Sink, arg: string, value: string): void {
  const type = value.trim().split(/[,=]/)[0].toLowerCase();
  if (type === 'vnc') {
    vnc(s, arg, value.replace(/^vnc=?/i, ''));
    return;
  }
  if (['gtk', 'sdl', 'cocoa', 'spice-app', 'dbus'].includes(type)) {
    s.refuse({
      arg,
      message: `-display ${type} reads the user's session files (X authority, GUI settings, the session bus), which files=deny does not grant`,
      fix: 'use -display none with VNC or SPICE on a unix socket, or files=allow',
    });
    return;
  }
  const o = new Opts(value, 'type');
  if (type === 'egl-headless' || o.isOn('gl')) {
    const node = o.get('rendernode');
    s.need({
      kind: 'device',
      path: node === undefined ? '/dev/dri' : abs(s, node),
      write: true,
      why: `${arg}: OpenGL`,
    });
  }
}

/**
 * -incoming URI (or its JSON MigrationChannel form): file: is read, a unix
 * socket is bound; exec:, fd:, tcp: and defer name no path.
 */
export function incoming(s: Sink, arg: string, value: string): void {
  const v = value.trim();
  if (v.startsWith('{')) {
    const o = new Opts(v);
    const t = o.get('addr.transport');
    if (t === 'file' && o.get('addr.filename') !== undefined) {
      s.need({
        kind: 'read',
        path: abs(s, o.get('addr.filename') ?? ''),
        why: `${arg}: migration stream`,
      });
    } else if (
      t === 'socket' &&
      o.get('addr.type') === 'unix' &&
      o.get('addr.path') !== undefined
    ) {
      s.need({
        kind: 'socket',
        path: abs(s, o.get('addr.path') ?? ''),
        why: `${arg}: migration socket`,
      });
    }
    return;
  }
  if (/^file:/.test(v)) {
    const path = v.slice(5).replace(/,offset=.*$/, '');
    s.need({ kind: 'read', path: abs(s, path), why: `${arg}: migration stream` });
  } else if (/^unix:/.test(v)) {
    s.need({ kind: 'socket', path: abs(s, v.slice(5)), why: `${arg}: migration socket` });
  }
}
