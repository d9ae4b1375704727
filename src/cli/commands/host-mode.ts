/**
 * `host enable|disable|status`: host-wide mode, where the launcher stands in
 * front of every qemu-system-* of the host (dpkg-divert moves QEMU aside), so
 * that whatever starts QEMU (libvirt with the domain XML Nova or KubeVirt
 * wrote, a shell) runs it sandboxed with the site config.
 *
 * The work is done by launcher/host, a POSIX sh program, because the Debian
 * package's maintainer scripts (its dpkg trigger re-applies the mode when
 * QEMU packages come and go) run the same code without Node. This command is
 * its front end: it runs it and renders its status as text or JSON.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../policy/rules';
import type { CliContext } from '../context';
import { table, toJson } from '../context';
import { InputError } from '../errors';

export const HOST_ACTIONS = ['enable', 'disable', 'status'] as const;
export type HostAction = (typeof HOST_ACTIONS)[number];

export type TargetState = 'diverted' | 'not-diverted' | 'alias' | 'script' | 'stale';

export interface HostTarget {
  /** QEMU's target name: x86_64, aarch64, x86_64-microvm... */
  readonly target: string;
  readonly path: string;
  readonly state: TargetState;
  /** Where dpkg-divert moved QEMU (diverted, stale). */
  readonly divertedTo?: string;
  /** alias: the qemu-system-* it links to (and follows into the launcher when that is diverted). */
  readonly aliasOf?: string;
  /** The package's qemu-system-<target>-sandboxed link, when there is one. */
  readonly link?: string;
}

export interface HostStatus {
  readonly enabled: boolean;
  readonly targets: readonly HostTarget[];
  /** Things an operator must look at: a target host-wide mode should cover but does not, leftovers. */
  readonly problems: readonly string[];
}

/** launcher/host status --porcelain: "KIND TARGET PATH [PATH]" per line. */
export function parsePorcelain(text: string): HostStatus {
  let enabled = false;
  const targets = new Map<string, { -readonly [K in keyof HostTarget]: HostTarget[K] }>();
  const links = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [kind, target, a, b] = line.trim().split(/\s+/);
    if (!kind) continue;
    switch (kind) {
      case 'mode':
        enabled = target === 'enabled';
        break;
      case 'diverted':
        targets.set(target, { target, path: a, state: 'diverted', divertedTo: b });
        break;
      case 'program':
        targets.set(target, { target, path: a, state: 'not-diverted' });
        break;
      case 'alias':
        targets.set(target, { target, path: a, state: 'alias', aliasOf: b });
        break;
      case 'script':
        targets.set(target, { target, path: a, state: 'script' });
        break;
      case 'stale':
        targets.set(target, { target, path: a, state: 'stale', divertedTo: b });
        break;
      case 'link':
        links.set(target, a);
        break;
      default:
        throw new InputError(`launcher/host status: unexpected line '${line}'`);
    }
  }
  for (const [target, link] of links) {
    const t = targets.get(target);
    if (t) t.link = link;
  }
  const list = [...targets.values()].sort((x, y) => x.target.localeCompare(y.target));
  const problems: string[] = [];
  for (const t of list) {
    if (enabled && t.state === 'not-diverted') {
      problems.push(
        `${t.path} is not diverted although host-wide mode is on: run qemu-sandbox host enable`,
      );
    }
    if (!enabled && t.state === 'diverted') {
      problems.push(
        `${t.path} is diverted although host-wide mode is off: run qemu-sandbox host disable`,
      );
    }
    if (t.state === 'stale') {
      problems.push(
        `${t.path}: its QEMU is gone but the diversion to ${t.divertedTo ?? '?'} is left: run qemu-sandbox host ${enabled ? 'enable' : 'disable'}`,
      );
    }
  }
  return { enabled, targets: list, problems };
}

const STATE_WORDS: Readonly<Record<TargetState, (t: HostTarget) => string>> = {
  diverted: (t) => `runs through qemu-sandboxed (QEMU is ${t.divertedTo ?? '?'})`,
  'not-diverted': () => 'QEMU itself, not sandboxed',
  alias: (t) => `a link to ${t.aliasOf ?? '?'}, which it follows`,
  script: () =>
    'a script wrapper: never diverted (its own exec of QEMU would fail under spawn=deny)',
  stale: (t) => `QEMU removed; diversion to ${t.divertedTo ?? '?'} left over`,
};

export function renderStatus(s: HostStatus): string {
  const head = s.enabled
    ? 'host-wide mode  on: every qemu-system-* program below runs under qemu-sandboxed with the site config\n'
    : 'host-wide mode  off: only qemu-sandboxed and the qemu-system-*-sandboxed links run the launcher\n';
  const rows = s.targets.map((t) => [t.path, STATE_WORDS[t.state](t)]);
  let out = head + (rows.length ? table(rows, '  ') : '  no qemu-system-* in /usr/bin\n');
  if (s.problems.length) out += `problems\n${s.problems.map((p) => `  - ${p}\n`).join('')}`;
  return out;
}

/** The engine: <package>/launcher/host. */
export function hostScript(): string {
  return join(packageRoot(), 'launcher', 'host');
}

function runEngine(
  args: readonly string[],
  script: string,
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('sh', [script, ...args], { encoding: 'utf8' });
  if (r.error) throw new InputError(`cannot run ${script}: ${r.error.message}`);
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** The engine's last stderr line, without its prefix: the one-line reason. */
function failure(stderr: string, fallback: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const last = lines.length ? lines[lines.length - 1] : fallback;
  return last.replace(/^qemu-sandbox host: /, '');
}

export function readHostStatus(script = hostScript()): HostStatus {
  const r = runEngine(['status', '--porcelain'], script);
  if (r.code !== 0) throw new InputError(failure(r.stderr, 'host status failed'));
  return parsePorcelain(r.stdout);
}

export function runHost(
  ctx: CliContext,
  opts: { readonly action: HostAction; readonly json: boolean; readonly script?: string },
): void {
  const script = opts.script ?? hostScript();
  if (opts.action !== 'status') {
    const r = runEngine([opts.action], script);
    // Its lines (what was diverted or restored) go to stderr, all but a
    // failure's last line, which the CLI prints as its one-line error.
    const lines = r.stderr.trimEnd().split('\n').filter(Boolean);
    const shown = r.code === 0 ? lines : lines.slice(0, -1);
    if (shown.length) ctx.stderr.write(`${shown.join('\n')}\n`);
    if (r.code !== 0) throw new InputError(failure(r.stderr, `host ${opts.action} failed`));
  }
  const status = readHostStatus(script);
  ctx.stdout.write(opts.json ? toJson(status) : renderStatus(status));
}
