/**
 * -readconfig for files=deny: QEMU's config file format, read into the
 * options it stands for, so that the paths in it are served like the
 * command line's.
 */
import type { QemuArg } from '../policy/qemu-args';
import type { FileFacts } from './files-common';

/** The config file's text (at most 1 MiB), or undefined when QEMU could not read it either. */
export function readConfigText(facts: FileFacts, path: string): string | undefined {
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
