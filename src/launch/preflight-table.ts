/**
 * QEMU feature knowledge, as a table: for each option, what it needs at run
 * time (fork, exec, setsid, switching user, a setuid helper, creating a tap,
 * IP sockets), each need with a phrase saying what QEMU does and how to do
 * without it. Nothing here knows the policy: preflight-collision.ts maps a
 * need to the setting that breaks it.
 *
 * A new row needs a test case per kind it declares (the table test walks
 * them).
 */
import { CHARDEV_STRING_OPTIONS, LEGACY_DISK_OPTIONS } from '../policy/qemu-args';
import { Opts } from './opts';
import { networkBlockFilename, networkBlockNeeds, networkBlockOptions } from './preflight-block';
import { entry, type Need, type NeedsEntry } from './preflight-need';
import { netClientNeeds } from './preflight-netdev';

/** Legacy chardev strings (-serial, -monitor, -qmp, ...): the backends that use IP. */
const IP_CHARDEV_PREFIX = /^(tcp|telnet|tn3270|websocket|udp):/i;

const chardevString = entry(['ip-socket'], ({ value }) => {
  // mon:<dev> multiplexes a monitor onto <dev>.
  const dev = value.replace(/^mon:/i, '');
  if (!IP_CHARDEV_PREFIX.test(dev)) return [];
  return [
    {
      kind: 'ip-socket',
      does: `a ${dev.split(':')[0].toLowerCase()} character device opens an IP socket`,
      fix: 'use unix:/path,server=on,wait=off (or -chardev socket,fd=N)',
    },
  ];
});

const legacyDisk = entry(['ip-socket'], ({ value }) =>
  networkBlockNeeds(networkBlockFilename(value)),
);

/** -vnc's value (also -display vnc=...): TCP unless a unix socket without a websocket. */
function vncNeeds(value: string): Need<'ip-socket'>[] {
  if (value.trim().toLowerCase() === 'none') return [];
  const o = new Opts(value, 'vnc');
  const display = o.get('vnc') ?? '';
  const websocket = o.get('websocket');
  const tcpWebsocket = websocket !== undefined && !['off', 'no', 'false'].includes(websocket);
  if (/^unix:/i.test(display) && !tcpWebsocket) return [];
  return [
    {
      kind: 'ip-socket',
      does: 'VNC on TCP opens an IP socket',
      fix: 'use -vnc unix:/path (without websocket=)',
    },
  ];
}

/** -incoming's transport: "exec", "tcp", "unix"... (also from QEMU 9.x's JSON MigrationChannel). */
function incomingTransport(value: string): string {
  const v = value.trim();
  if (!v.startsWith('{')) return v.split(':')[0].toLowerCase();
  const o = new Opts(v);
  const t = o.get('addr.transport') ?? '';
  const transport = t === 'socket' ? (o.get('addr.type') ?? '') : t;
  return transport === 'inet' ? 'tcp' : transport;
}

const asyncTeardownClone = (does: string, fix: string): Need<'fork'> => ({
  kind: 'fork',
  does: `${does} clones a teardown process at start`,
  fix,
});

/** The table: option name (without dashes) to what it can need. */
export const OPTION_NEEDS: ReadonlyMap<string, NeedsEntry> = new Map<string, NeedsEntry>([
  [
    'daemonize',
    entry(['fork', 'setsid'], () => [
      {
        kind: 'fork',
        does: '-daemonize forks QEMU into the background',
        fails: 'the fork',
        fix: 'drop -daemonize and let the caller run QEMU in the background (systemd, libvirt)',
      },
      {
        kind: 'setsid',
        does: '-daemonize calls setsid()',
        fix: 'drop -daemonize and let the caller run QEMU in the background',
      },
    ]),
  ],
  [
    'runas',
    entry(['switch-user'], () => [
      {
        kind: 'switch-user',
        does: '-runas switches user with setgroups/setgid/setuid',
        fix: 'start QEMU as the target user instead (setpriv, sudo -u, systemd User=)',
      },
    ]),
  ],
  [
    'run-with',
    entry(['switch-user', 'fork'], ({ value }) => {
      const o = new Opts(value);
      const needs: Need<'switch-user' | 'fork'>[] = [];
      if (o.has('user')) {
        needs.push({
          kind: 'switch-user',
          does: '-run-with switches user with setgroups/setgid/setuid',
          fix: 'start QEMU as the target user instead (setpriv, sudo -u, systemd User=)',
        });
      }
      if (o.isOn('async-teardown')) {
        needs.push(asyncTeardownClone('async-teardown', 'drop async-teardown=on'));
      }
      return needs;
    }),
  ],
  [
    'async-teardown',
    entry(['fork'], () => [asyncTeardownClone('-async-teardown', 'drop -async-teardown')]),
  ],
  ['netdev', entry(['exec', 'create-tap', 'setuid-helper', 'ip-socket'], netClientNeeds)],
  ['nic', entry(['exec', 'create-tap', 'setuid-helper', 'ip-socket'], netClientNeeds)],
  ['net', entry(['exec', 'create-tap', 'setuid-helper', 'ip-socket'], netClientNeeds)],
  [
    'chardev',
    entry(['ip-socket'], ({ value }) => {
      const o = new Opts(value, 'backend');
      const backend = (o.get('backend') ?? '').toLowerCase();
      const tcpSocket =
        backend === 'socket' && !o.has('fd') && !o.has('path') && (o.has('host') || o.has('port'));
      if (!tcpSocket && backend !== 'udp') return [];
      return [
        {
          kind: 'ip-socket',
          does: `-chardev ${backend} on ${backend === 'udp' ? 'UDP' : 'TCP'} opens an IP socket`,
          fix: 'use -chardev socket,path=/path or a pre-opened fd=N',
        },
      ];
    }),
  ],
  [
    'gdb',
    entry(['ip-socket'], ({ value }) =>
      // A bare port number means tcp::<port>.
      /^\d+$/.test(value.trim()) || IP_CHARDEV_PREFIX.test(value)
        ? [
            {
              kind: 'ip-socket',
              does: '-gdb listens on TCP for a debugger',
              fix: 'use -gdb unix:/path,server=on,wait=off',
            },
          ]
        : [],
    ),
  ],
  [
    // -s is -gdb tcp::1234.
    's',
    entry(['ip-socket'], () => [
      {
        kind: 'ip-socket',
        does: '-s listens on TCP for a debugger',
        fix: 'use -gdb unix:/path,server=on,wait=off',
      },
    ]),
  ],
  ['vnc', entry(['ip-socket'], ({ value }) => vncNeeds(value))],
  [
    'display',
    entry(['ip-socket', 'exec'], ({ value }) => {
      // The type comes first; `-display vnc=<vnc options>` is the same as -vnc <vnc options>.
      const type = value.trim().split(/[,=]/)[0].toLowerCase();
      if (type === 'vnc') return vncNeeds(value.replace(/^vnc=?/i, ''));
      if (type !== 'spice-app') return [];
      return [
        {
          kind: 'exec',
          does: '-display spice-app launches a SPICE viewer',
          fix: 'use -spice unix=on,addr=/path and start the viewer yourself',
        },
      ];
    }),
  ],
  [
    'spice',
    entry(['ip-socket'], ({ value }) => {
      const o = new Opts(value);
      if (o.isOn('unix') || !(o.has('port') || o.has('tls-port'))) return [];
      return [
        {
          kind: 'ip-socket',
          does: '-spice on a TCP port opens an IP socket',
          fix: 'use -spice unix=on,addr=/path',
        },
      ];
    }),
  ],
  [
    'incoming',
    entry(['exec', 'ip-socket'], ({ value }) => {
      const transport = incomingTransport(value);
      if (transport === 'exec') {
        return [
          {
            kind: 'exec',
            does: '-incoming exec: runs a command to read the migration stream',
            fix: 'use -incoming fd:N, unix:/path or defer',
          },
        ];
      }
      if (transport !== 'tcp' && transport !== 'rdma') return [];
      return [
        {
          kind: 'ip-socket',
          does: `-incoming ${transport}: listens on the network`,
          fix: 'use -incoming unix:/path or fd:N',
        },
      ];
    }),
  ],
  [
    'drive',
    entry(['ip-socket'], ({ value }) => networkBlockNeeds(networkBlockOptions(new Opts(value)))),
  ],
  [
    'blockdev',
    entry(['ip-socket'], ({ value }) => networkBlockNeeds(networkBlockOptions(new Opts(value)))),
  ],
  [
    'object',
    entry(['ip-socket'], ({ value }) =>
      new Opts(value, 'qom-type').get('qom-type') === 'input-barrier'
        ? [
            {
              kind: 'ip-socket',
              does: '-object input-barrier connects to a Barrier server over TCP',
              fix: 'drop input-barrier',
            },
          ]
        : [],
    ),
  ],
  // -gdb has a row of its own (a bare port number is TCP too).
  ...[...CHARDEV_STRING_OPTIONS]
    .filter((name) => name !== 'gdb')
    .map((name): [string, NeedsEntry] => [name, chardevString]),
  ...[...LEGACY_DISK_OPTIONS].map((name): [string, NeedsEntry] => [name, legacyDisk]),
]);

/** The options that configure networking: without any, QEMU adds a default NIC. */
const NETWORK_CONFIGURING = ['nic', 'net', 'netdev', 'nodefaults'];

/**
 * Needs of the command line as a whole: without -nic/-net/-netdev/-nodefaults
 * QEMU adds "-net nic -net user" (vl.c, qemu_create_default_devices, when
 * built with slirp as Debian's is).
 */
export function defaultNicNeeds(optionNames: ReadonlySet<string>): Need<'ip-socket'>[] {
  if (NETWORK_CONFIGURING.some((n) => optionNames.has(n))) return [];
  return [
    {
      kind: 'ip-socket',
      does: 'QEMU then adds a default NIC on user networking (slirp), which opens IP sockets',
      fails: 'them',
      fix: 'add -nic none (or -nodefaults, or a -netdev of your own)',
    },
  ];
}

/**
 * The QEMU binary as a #! script: the kernel execs the interpreter, which
 * execs the real QEMU, a second exec after ours.
 */
export function scriptBinaryNeeds(interpreter: string | undefined): Need<'exec-again'>[] {
  if (interpreter === undefined) return [];
  return [
    {
      kind: 'exec-again',
      does: `the QEMU binary is a script (#!${interpreter}); whatever it runs next is a second exec`,
      fix: 'point QEMU_SANDBOXED_BINARY (or the config binary) at the real qemu-system-* binary',
    },
  ];
}
