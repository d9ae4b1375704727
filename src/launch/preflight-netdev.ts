/**
 * What a network client (-netdev, -nic, -net) makes QEMU do at run time, by
 * type: a bridge helper to fork, exec and trust as setuid root, a tap to
 * create and scripts to run, slirp's IP sockets and its smbd, passt.
 */
import { Opts } from './opts';
import type { HostFacts, Need, OptionUse } from './preflight-need';

/** QEMU's default tap scripts (net/tap.c DEFAULT_NETWORK_SCRIPT / _DOWN_SCRIPT). */
const DEFAULT_IFUP = '/etc/qemu-ifup';
const DEFAULT_IFDOWN = '/etc/qemu-ifdown';

export type NetClientNeed = 'exec' | 'setuid-helper' | 'create-tap' | 'ip-socket';

/** The bridge helper: forked and exec'd, setuid root, and it creates the tap under QEMU's filter. */
function bridgeHelper(what: string): Need<NetClientNeed>[] {
  return [
    {
      kind: 'exec',
      does: `${what} forks and executes qemu-bridge-helper`,
      fix: 'pass a pre-opened tap fd with -netdev tap,fd=N',
      policyFixFirst: true,
    },
    {
      kind: 'create-tap',
      does: `${what}: the helper creates the tap with TUNSETIFF under QEMU's filter`,
      fix: 'pass a pre-opened tap fd with -netdev tap,fd=N (as libvirt does)',
    },
    {
      kind: 'setuid-helper',
      does: `${what} relies on the setuid-root qemu-bridge-helper`,
      fix: 'pass a pre-opened tap fd with -netdev tap,fd=N',
    },
  ];
}

function tap(kind: string, o: Opts, host: HostFacts): Need<NetClientNeed>[] {
  if (o.has('helper')) return bridgeHelper(`${kind} tap,helper=`);
  // With a pre-opened fd QEMU runs no script (and refuses script= with fd=).
  if (o.has('fd') || o.has('fds')) return [];
  const needs: Need<NetClientNeed>[] = [
    {
      kind: 'create-tap',
      does: `${kind} tap opens /dev/net/tun and creates its interface with TUNSETIFF`,
      fix: 'pass a pre-opened tap fd with -netdev tap,fd=N (as libvirt does)',
    },
  ];
  // QEMU runs the default scripts without checking that they exist (net/tap.c);
  // a missing one fails QEMU with or without us, so only existing ones count.
  const script = (key: string, def: string): string | undefined => {
    const v = o.get(key);
    if (v === undefined) return host.fileExists(def) ? def : undefined;
    return v === '' || v.toLowerCase() === 'no' ? undefined : v;
  };
  const up = script('script', DEFAULT_IFUP);
  const down = script('downscript', DEFAULT_IFDOWN);
  if (up || down) {
    const runs = [up && `${up} at start`, down && `${down} when the VM stops`]
      .filter(Boolean)
      .join(' and ');
    needs.push({
      kind: 'exec',
      does: `${kind} tap runs ${runs}`,
      fix:
        'set up the tap device beforehand and add script=no,downscript=no, or pass a ' +
        'pre-opened tap fd with -netdev tap,fd=N',
    });
  }
  return needs;
}

function user(kind: string, o: Opts): Need<NetClientNeed>[] {
  const needs: Need<NetClientNeed>[] = [
    {
      kind: 'ip-socket',
      does: `${kind} user (slirp) opens IP sockets for every guest connection`,
      fails: 'them',
      fix: 'use -netdev tap,fd=N (or -nic none)',
    },
  ];
  if (o.has('smb')) {
    needs.push({
      kind: 'exec',
      does: `${kind} user,smb= starts smbd when the guest first uses the share`,
      fix: 'share files with virtiofs or -virtfs instead',
    });
  }
  if (o.keys().some((k) => k.startsWith('guestfwd') && /-cmd:/.test(o.get(k) ?? ''))) {
    needs.push({
      kind: 'exec',
      does: `${kind} user,guestfwd=...-cmd: runs a command per guest connection`,
      fix: 'forward to a chardev (guestfwd=tcp:ip:port-chardev:id) instead',
    });
  }
  return needs;
}

/** -netdev/-nic/-net TYPE,...: what the network client needs. */
export function netClientNeeds(use: OptionUse, host: HostFacts): Need<NetClientNeed>[] {
  const kind = `-${use.name}`;
  const o = new Opts(use.value, 'type');
  const type = (o.get('type') ?? '').toLowerCase();
  switch (type) {
    case 'bridge':
      return bridgeHelper(`${kind} bridge`);
    case 'tap':
      return tap(kind, o, host);
    case 'user':
      return user(kind, o);
    case 'socket':
    case 'l2tpv3':
    case 'stream':
    case 'dgram': {
      const inet =
        type === 'l2tpv3' ||
        (type === 'socket' && !o.has('fd')) ||
        ['addr.type', 'remote.type', 'local.type'].some((k) => o.get(k) === 'inet');
      if (!inet) return [];
      return [
        {
          kind: 'ip-socket',
          does: `${kind} ${type} opens an IP socket`,
          fix: 'use a unix socket (addr.type=unix) or a pre-opened fd',
        },
      ];
    }
    case 'passt':
      return [
        {
          kind: 'exec',
          does: `${kind} passt starts the passt daemon`,
          fix: 'start passt yourself and use -netdev stream,addr.type=unix',
        },
      ];
    default:
      return [];
  }
}
