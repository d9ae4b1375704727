/**
 * A small QMP client (QEMU Machine Protocol) for the e2e tests and the demo:
 * greeting, qmp_capabilities, `execute` with ids, events. Every wait has a
 * timeout and every failure is an Error that says which command and why, so a
 * hung or dead QEMU shows up as a readable test failure, never as a jest
 * timeout.
 *
 * It lives in scripts/lib (not test/helpers) because the demo, which is built
 * with tsconfig.build.json, needs it too; test/helpers/qmp.ts re-exports it.
 */
import { connect, type Socket } from 'node:net';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface QmpGreeting {
  readonly version: { qemu: { major: number; minor: number; micro: number }; package: string };
  readonly capabilities: readonly string[];
}

export interface QmpEvent {
  readonly event: string;
  readonly data?: JsonObject;
  readonly timestamp?: { seconds: number; microseconds: number };
}

/** A QMP `error` reply, or a transport failure (then `errorClass` is undefined). */
export class QmpError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly errorClass?: string,
  ) {
    super(message);
    this.name = 'QmpError';
  }
}

interface Pending {
  readonly command: string;
  readonly resolve: (value: Json) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface EventWaiter {
  readonly match: (e: QmpEvent) => boolean;
  readonly resolve: (e: QmpEvent) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const DEFAULT_TIMEOUT_MS = 30_000;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class QmpClient {
  /** Every event received so far, in order (tests assert on them afterwards). */
  readonly events: QmpEvent[] = [];
  private readonly pending = new Map<string, Pending>();
  private readonly waiters = new Set<EventWaiter>();
  private buffer = '';
  private nextId = 1;
  private closedReason: string | undefined;
  private greetingValue: QmpGreeting | undefined;
  private greetingWaiter: ((g: QmpGreeting) => void) | undefined;
  private greetingFailure: ((err: Error) => void) | undefined;
  /** Resolves when the connection is gone (QEMU quit, or close()). */
  readonly closed: Promise<string>;
  private resolveClosed!: (reason: string) => void;

  private constructor(private readonly socket: Socket) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(`socket error: ${err.message}`));
    socket.on('close', () => this.fail('connection closed by QEMU'));
  }

  /**
   * Connects to a QMP unix socket (a path, or '\0name' for the abstract
   * namespace), retrying while QEMU has not created it yet, reads the greeting
   * and negotiates capabilities. Fails after `timeoutMs` in all.
   */
  static async connect(
    path: string,
    opts: { timeoutMs?: number; negotiate?: boolean } = {},
  ): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    let lastError = '';
    for (;;) {
      const socket = await new Promise<Socket | Error>((resolve) => {
        const s = connect({ path });
        s.once('connect', () => resolve(s));
        s.once('error', (err) => resolve(err));
      });
      if (!(socket instanceof Error)) {
        const client = new QmpClient(socket);
        await client.readGreeting(Math.max(1, deadline - Date.now()));
        if (opts.negotiate !== false) await client.execute('qmp_capabilities');
        return client;
      }
      lastError = socket.message;
      if (Date.now() >= deadline) {
        throw new QmpError(
          `QMP: cannot connect to ${printable(path)} within ${timeoutMs} ms: ${lastError}`,
          'connect',
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  get greeting(): QmpGreeting {
    if (!this.greetingValue) throw new Error('QMP: no greeting yet');
    return this.greetingValue;
  }

  /** Runs a command; resolves with its `return` value, rejects with QmpError on `error`. */
  execute<T = Json>(
    command: string,
    args?: JsonObject,
    opts: { timeoutMs?: number } = {},
  ): Promise<T> {
    if (this.closedReason !== undefined) {
      return Promise.reject(
        new QmpError(`QMP ${command}: connection is closed (${this.closedReason})`, command),
      );
    }
    const id = `qs-${this.nextId++}`;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpError(`QMP ${command}: no reply within ${timeoutMs} ms`, command));
      }, timeoutMs);
      this.pending.set(id, {
        command,
        resolve: (v) => resolve(v as T),
        reject,
        timer,
      });
      const msg: JsonObject = { execute: command, id };
      if (args) msg.arguments = args;
      this.socket.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** HMP through QMP (`human-monitor-command`): returns the monitor's text output. */
  async hmp(commandLine: string, opts: { timeoutMs?: number } = {}): Promise<string> {
    return this.execute<string>('human-monitor-command', { 'command-line': commandLine }, opts);
  }

  /** The first event named `name` (already received or still to come) that `match`es. */
  waitEvent(
    name: string,
    opts: { timeoutMs?: number; match?: (e: QmpEvent) => boolean; since?: number } = {},
  ): Promise<QmpEvent> {
    const match = (e: QmpEvent): boolean => e.event === name && (opts.match?.(e) ?? true);
    const seen = this.events.slice(opts.since ?? 0).find(match);
    if (seen) return Promise.resolve(seen);
    if (this.closedReason !== undefined) {
      return Promise.reject(
        new QmpError(`QMP: waiting for event ${name}: ${this.closedReason}`, name),
      );
    }
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<QmpEvent>((resolve, reject) => {
      const waiter: EventWaiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new QmpError(`QMP: no ${name} event within ${timeoutMs} ms`, name));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Closes our end; pending commands fail. */
  close(): void {
    this.socket.destroy();
    this.fail('closed by the client');
  }

  private readGreeting(timeoutMs: number): Promise<QmpGreeting> {
    if (this.greetingValue) return Promise.resolve(this.greetingValue);
    return new Promise<QmpGreeting>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        reject(new QmpError(`QMP: no greeting within ${timeoutMs} ms`, 'greeting'));
      }, timeoutMs);
      this.greetingWaiter = (g) => {
        clearTimeout(timer);
        resolve(g);
      };
      this.greetingFailure = (err) => {
        clearTimeout(timer);
        reject(err);
      };
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.fail(`QEMU sent a line that is not JSON: ${line.slice(0, 120)}`);
      this.socket.destroy();
      return;
    }
    if (!isObject(msg)) return;
    if (isObject(msg.QMP)) {
      this.greetingValue = msg.QMP as unknown as QmpGreeting;
      this.greetingWaiter?.(this.greetingValue);
      return;
    }
    if (typeof msg.event === 'string') {
      const event = msg as unknown as QmpEvent;
      this.events.push(event);
      for (const w of [...this.waiters]) {
        if (w.match(event)) {
          clearTimeout(w.timer);
          this.waiters.delete(w);
          w.resolve(event);
        }
      }
      return;
    }
    const id = typeof msg.id === 'string' ? msg.id : undefined;
    const pending = id === undefined ? undefined : this.pending.get(id);
    if (!pending || id === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (isObject(msg.error)) {
      const cls = typeof msg.error.class === 'string' ? msg.error.class : 'GenericError';
      const desc = typeof msg.error.desc === 'string' ? msg.error.desc : JSON.stringify(msg.error);
      pending.reject(new QmpError(`QMP ${pending.command}: ${cls}: ${desc}`, pending.command, cls));
    } else {
      pending.resolve(msg.return ?? null);
    }
  }

  private fail(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.greetingFailure?.(new QmpError(`QMP: before the greeting: ${reason}`, 'greeting'));
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new QmpError(`QMP ${p.command}: ${reason}`, p.command));
    }
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new QmpError(`QMP: waiting for an event: ${reason}`, 'event'));
    }
    this.waiters.clear();
    this.resolveClosed(reason);
  }
}

/** Abstract socket names start with NUL: show it as '@' in messages. */
function printable(path: string): string {
  return path.startsWith('\0') ? `@${path.slice(1)}` : path;
}

/** How an outgoing migration ended. */
export interface MigrationOutcome {
  /** 'refused': the migrate command itself failed; else query-migrate's final status. */
  readonly status: string;
  /** QEMU's words: the command's error, or query-migrate's error-desc. */
  readonly reason: string;
}

/** query-migrate states that mean "not finished yet". */
const MIGRATION_ONGOING = ['none', 'setup', 'active', 'device', 'pre-switchover', 'cancelling'];

/**
 * Runs `migrate` to `uri` and waits until the migration ends. QEMU may refuse
 * the command outright or accept it and fail afterwards: both come back as an
 * outcome, so a caller asserts on the reason. A lost connection (QEMU died)
 * stays an error.
 */
export async function migrate(
  qmp: QmpClient,
  uri: string,
  timeoutMs: number,
): Promise<MigrationOutcome> {
  try {
    await qmp.execute('migrate', { uri });
  } catch (err) {
    if (err instanceof QmpError && err.errorClass !== undefined) {
      return { status: 'refused', reason: err.message.replace(/^QMP migrate: /, '') };
    }
    throw err;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    const status = s.status ?? 'none';
    if (!MIGRATION_ONGOING.includes(status)) {
      return { status, reason: s['error-desc'] ?? '' };
    }
    if (Date.now() > deadline) {
      throw new QmpError(`migrate ${uri}: still ${status} after ${timeoutMs} ms`, 'migrate');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * QEMU's words when the fork for an exec: migration fails with EPERM, the
 * errno our spawn=deny answers. Unfiltered, the migration succeeds; under
 * QEMU 7.2's own spawn=deny the fork kills the VM: only our filter says this.
 */
export const FORK_REFUSED_BY_SPAWN_DENY = /Failed to fork.*\(Operation not permitted\)/;
