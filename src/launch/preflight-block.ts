/**
 * Which block devices talk to their server over IP: drivers and filename
 * URLs, with the unix-socket forms that open no IP socket left out.
 */
import { Opts } from './opts';
import type { Need } from './preflight-need';

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

/** Where a block filename opens an IP connection, say which protocol; else undefined. */
export function networkBlockFilename(filename: string): string | undefined {
  const f = filename.trim();
  if (/^json:/i.test(f)) return networkBlockOptions(new Opts(f.slice(5)));
  const m = NET_BLOCK_URL.exec(f);
  if (!m) return undefined;
  // nbd:unix:/path is the legacy unix form; nbd+unix:// and gluster+unix:// are excluded by the regex.
  if (/^nbd:unix:/i.test(f)) return undefined;
  return m[1].toLowerCase();
}

/** Looks at driver keys (driver, file.driver, file.file.driver...) and filenames in a flat map. */
export function networkBlockOptions(opts: Opts): string | undefined {
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

/** The need of a block device on `proto` (none when it is local). */
export function networkBlockNeeds(proto: string | undefined): Need<'ip-socket'>[] {
  if (!proto) return [];
  return [
    {
      kind: 'ip-socket',
      does: `a ${proto} block device connects to its server over IP`,
      fix: 'use a local file or an export on a unix socket (nbd+unix://)',
    },
  ];
}
