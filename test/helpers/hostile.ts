/**
 * The hostile "QEMU" (test/helpers/c/hostile.c) and its victim, for
 * test/kernel/hostile.test.ts: build them, start a victim outside the
 * sandbox, run attempts under the launcher (or directly, for the unsandboxed
 * baseline) as root or as an unprivileged user, and read what happened.
 *
 * An attempt whose denial is a SIGSYS kills the attacker: the attacker prints
 * one line per attempt, flushed before the next, so the attempt after the
 * last line is the one that was fatal; the rest run again in a new process.
 */
import { chmodSync, chownSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import { buildC } from './cbuild';
import { LAUNCHER } from './probe';

/** The unprivileged user: nobody/nogroup, with no supplementary groups. */
export const NOBODY = 65534;

export type User = 'root' | 'nobody';
export const USERS: readonly User[] = ['root', 'nobody'];

/** What runs a command as `user` (root: nothing; the test itself runs as root). */
export function asUser(user: User): string[] {
  return user === 'root'
    ? []
    : ['/usr/bin/setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
}

/** Makes a path the user's (the victim unlinks its secret and writes its state there). */
export function giveTo(user: User, path: string): void {
  if (user === 'nobody') chownSync(path, NOBODY, NOBODY);
}

export function hostileBinary(): string {
  return buildC('hostile', { flags: ['-pthread'] });
}

// ---- what the attacker prints ---------------------------------------------------

/** One attempt's line (see hostile.c). */
export interface AttemptLine {
  readonly attempt: string;
  readonly result: 'escaped' | 'denied' | 'unverified' | 'no-effect' | 'error';
  readonly errno?: string;
  /** The call that failed. */
  readonly step?: string;
  readonly evidence?: string;
  /** gate-reroute: how the seccomp(NEW_LISTENER) call and the exec ended. */
  readonly steps?: { readonly listener: string; readonly exec: string };
}

/** How an attempt ended: its line, or the signal that killed the attacker during it. */
export type AttemptOutcome =
  | AttemptLine
  | { readonly attempt: string; readonly result: 'killed'; readonly signal: string }
  | { readonly attempt: string; readonly result: 'no-line'; readonly evidence: string };

/** The victim's observations of itself (its state.json). */
export interface VictimState {
  readonly pid: number;
  readonly usr1: number;
  readonly connections: number;
  readonly tracer: number;
  readonly nofile: readonly [number, number];
  readonly nice: number;
  /** Its scheduling policy (sched_getscheduler: 0 normal, 5 SCHED_IDLE). */
  readonly policy: number;
  readonly cpus: number;
  readonly ioprio: number;
  readonly marker: string;
}

/** Everything one group of attempts produced, for the assertions and the table. */
export interface GroupResult {
  readonly outcomes: ReadonlyMap<string, AttemptOutcome>;
  /** The victim as it started and as it ended (groups without a victim: undefined). */
  readonly victimBefore?: VictimState;
  readonly victimAfter?: VictimState;
  /** Every process run, with its output: for failure messages. */
  readonly transcript: string;
  /** Where the victim kept its secret and wrote its state. */
  readonly dir?: string;
  /** tty-run: what waited in the terminal's input after the attacker ended. */
  readonly ttyPending?: string;
}

const SIGNALS: Readonly<Record<number, string>> = { 31: 'SIGSYS', 9: 'SIGKILL', 11: 'SIGSEGV' };

function parseLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`hostile printed a line that is not JSON: ${JSON.stringify(l)}`);
      }
    });
}

// ---- the victim ------------------------------------------------------------------

export interface Victim {
  readonly pid: number;
  /** The attacker's --victim argument. */
  readonly spec: string;
  readonly initial: VictimState;
  /** SIGTERM, wait, and read its last observations. */
  stop(): Promise<VictimState>;
}

function readState(dir: string): VictimState {
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as VictimState;
}

let sockets = 0;
/** A fresh abstract socket name for a victim. */
export function socketName(): string {
  return `qemu-sandboxed-hostile-${process.pid}-${++sockets}`;
}

/** Writes the victim's secret file into `dir` (the victim opens and unlinks it). */
export function prepareVictimDir(user: User, dir: string, secret: string): void {
  chmodSync(dir, 0o755);
  giveTo(user, dir);
  const file = join(dir, 'secret');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  giveTo(user, file);
}

/**
 * Starts a victim as `user`, outside any sandbox, in its own process group,
 * and waits for its ready line.
 */
export async function startVictim(
  user: User,
  dir: string,
  env: Readonly<Record<string, string>>,
): Promise<Victim> {
  const argv = [...asUser(user), hostileBinary(), 'victim', dir, socketName(), '--own-group'];
  const child = execa(argv[0], argv.slice(1), {
    env: { ...env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 90000,
    killSignal: 'SIGKILL',
  });
  const ready = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the victim did not start: ${out}`)), 15000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.split('\n')[0]);
      }
    });
    void child.then((r) => {
      clearTimeout(timer);
      reject(new Error(`the victim ended before it was ready: ${r.stdout} ${r.stderr}`));
    });
  });
  const line = JSON.parse(ready) as { victim: string; pid?: number; spec?: string };
  if (line.victim !== 'ready' || !line.spec || !line.pid) {
    child.kill('SIGKILL');
    throw new Error(`the victim did not start: ${ready}`);
  }
  return {
    pid: line.pid,
    spec: line.spec,
    initial: readState(dir),
    async stop() {
      child.kill('SIGTERM');
      await child;
      return readState(dir);
    },
  };
}

// ---- running attempts -------------------------------------------------------------

export interface AttackOptions {
  readonly user: User;
  /** null: the attacker runs directly (the unsandboxed baseline); else the -sandbox value. */
  readonly policy: string | null;
  readonly env: Readonly<Record<string, string>>;
}

/** The attacker's command line: directly, or as the launcher's "QEMU". */
function attackerArgv(opts: AttackOptions, rest: readonly string[]): string[] {
  // -nodefaults: the launcher's preflight refuses network=deny while QEMU
  // would add its default NIC; hostile skips it.
  const head = opts.policy === null ? [hostileBinary()] : [LAUNCHER, '-sandbox', opts.policy];
  return [...head, '-nodefaults', ...rest];
}

interface OneRun {
  readonly lines: Record<string, unknown>[];
  /** How the attacker ended. */
  readonly signal: string | null;
  readonly exitCode: number | null;
  readonly text: string;
}

async function exec(
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<OneRun> {
  const r = await execa(argv[0], argv.slice(1), {
    env: { ...env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    // A new session: nothing the attacker does to "its group" reaches the test.
    detached: true,
    timeout: 60000,
    killSignal: 'SIGKILL',
  });
  return {
    lines: parseLines(r.stdout),
    signal: r.signal ?? null,
    exitCode: r.exitCode ?? null,
    text: `$ ${argv.join(' ')}\nexit=${r.exitCode} signal=${r.signal}\n${r.stdout}\n${r.stderr}`,
  };
}

/**
 * Runs `attempts` in as few attacker processes as their outcomes allow: one,
 * plus one more after each attempt that ended the process (a SIGSYS, or an
 * exec that succeeded).
 */
async function runWithRestarts(
  attempts: readonly string[],
  once: (remaining: readonly string[]) => Promise<OneRun>,
): Promise<{ outcomes: Map<string, AttemptOutcome>; transcript: string }> {
  const outcomes = new Map<string, AttemptOutcome>();
  const transcript: string[] = [];
  let remaining = [...attempts];
  while (remaining.length > 0) {
    const run = await once(remaining);
    transcript.push(run.text);
    const lines = run.lines.filter(
      (l) => typeof l.attempt === 'string',
    ) as unknown as AttemptLine[];
    for (const line of lines) {
      if (line.attempt !== remaining[0]) {
        throw new Error(
          `expected a line for ${remaining[0]}, got ${JSON.stringify(line)}\n${run.text}`,
        );
      }
      outcomes.set(line.attempt, line);
      remaining = remaining.slice(1);
    }
    if (remaining.length === 0) break;
    // The process ended during remaining[0].
    const attempt = remaining[0];
    outcomes.set(
      attempt,
      run.signal
        ? { attempt, result: 'killed', signal: run.signal }
        : { attempt, result: 'no-line', evidence: `exit ${run.exitCode}, no line` },
    );
    remaining = remaining.slice(1);
  }
  return { outcomes, transcript: transcript.join('\n') };
}

/** Attempts that need no victim (exec, fork, host resources). */
export async function attackAlone(
  opts: AttackOptions,
  attempts: readonly string[],
): Promise<GroupResult> {
  const r = await runWithRestarts(attempts, (remaining) =>
    exec([...asUser(opts.user), ...attackerArgv(opts, remaining)], opts.env),
  );
  return { outcomes: r.outcomes, transcript: r.transcript };
}

/** Attempts against a victim of the same user, started outside the sandbox. */
export async function attackVictim(
  opts: AttackOptions,
  attempts: readonly string[],
  dir: string,
  victimEnv: Readonly<Record<string, string>>,
): Promise<GroupResult> {
  const victim = await startVictim(opts.user, dir, victimEnv);
  try {
    const r = await runWithRestarts(attempts, (remaining) =>
      exec(
        [...asUser(opts.user), ...attackerArgv(opts, ['--victim', victim.spec, ...remaining])],
        opts.env,
      ),
    );
    const after = await victim.stop();
    return { ...r, victimBefore: victim.initial, victimAfter: after, dir };
  } catch (e) {
    await victim.stop().catch(() => undefined);
    throw e;
  }
}

/**
 * Runs a hostile harness (ns-run, tty-run) around the attacker: the harness
 * reports how the attacker ended in its last line.
 */
async function harnessRun(
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<OneRun> {
  const run = await exec(argv, env);
  const done = run.lines.find((l) => l.harness === 'done') as
    { exit: number; signal: number } | undefined;
  if (!done) throw new Error(`the harness did not finish:\n${run.text}`);
  return {
    ...run,
    signal: done.signal ? (SIGNALS[done.signal] ?? `signal ${done.signal}`) : null,
    exitCode: done.exit,
  };
}

/**
 * Attempts on the terminal QEMU was started from (TIOCSTI): the attacker's
 * stdin and controlling terminal are a new pty of the tty-run harness, which
 * reports what waited in that terminal's input afterwards.
 */
export async function attackOnTty(
  opts: AttackOptions,
  attempts: readonly string[],
): Promise<GroupResult> {
  let pending = '';
  const r = await runWithRestarts(attempts, async (remaining) => {
    const run = await harnessRun(
      [hostileBinary(), 'tty-run', '--', ...asUser(opts.user), ...attackerArgv(opts, remaining)],
      opts.env,
    );
    const tty = run.lines.find((l) => l.tty === 'pending') as { data: string } | undefined;
    pending += tty?.data ?? '';
    return run;
  });
  return { ...r, ttyPending: pending };
}

/**
 * Attempts that signal everything (kill(-1), kill(0)): run inside a new PID
 * namespace, whose PID 1 is hostile's ns-run harness, with their victim and
 * nothing else, so that a failed containment can only ever signal them.
 */
export async function attackInPidNamespace(
  opts: AttackOptions,
  attempts: readonly string[],
  dir: string,
  secret: string,
): Promise<GroupResult> {
  let usr1 = 0;
  let last: VictimState | undefined;
  const r = await runWithRestarts(attempts, async (remaining) => {
    // A new victim per harness: the last one unlinked its secret.
    prepareVictimDir(opts.user, dir, secret);
    const argv = [
      '/usr/bin/unshare',
      '--pid',
      '--fork',
      '--mount-proc',
      '--',
      ...asUser(opts.user),
      hostileBinary(),
      'ns-run',
      dir,
      socketName(),
      '--',
      ...attackerArgv(opts, ['--victim', '@VICTIM', ...remaining]),
    ];
    const run = await exec(argv, opts.env);
    const done = run.lines.find((l) => l.harness === 'done') as
      { exit: number; signal: number } | undefined;
    if (!done) throw new Error(`the ns-run harness did not finish:\n${run.text}`);
    last = readState(dir);
    usr1 += last.usr1;
    return {
      ...run,
      signal: done.signal ? (SIGNALS[done.signal] ?? `signal ${done.signal}`) : null,
      exitCode: done.exit,
    };
  });
  // The signals every victim of the group counted (they are all the ns runs attack).
  return { ...r, victimAfter: last && { ...last, usr1 }, dir };
}
