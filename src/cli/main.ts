/**
 * `qemu-sandbox`: the operator's CLI. See, test and share a policy before it
 * meets a VM (groups, explain, compile, simulate, export), check a host
 * (doctor), find out why a VM died (audit), and put the launcher in front of
 * every QEMU of a host (host).
 *
 * Exit codes: 0 ok, 1 policy or input error (one line on stderr), 2 usage
 * error (yargs' own failures included), 70 a bug in this program.
 */
import yargs, { type Argv } from 'yargs';
import type { CliContext } from './context';
import {
  EXIT_INPUT,
  EXIT_INTERNAL,
  EXIT_OK,
  EXIT_USAGE,
  UsageError,
  isInternalError,
  oneLine,
} from './errors';
import { AUDIT_FORMATS, STDIN_ARG, runAudit, type AuditFormat } from './commands/audit';
import { runCompile, COMPILE_FORMATS, type CompileFormat } from './commands/compile';
import { runDoctor } from './commands/doctor';
import { runExplain } from './commands/explain';
import { runExport, EXPORT_FORMATS, type ExportFormat } from './commands/export';
import { runGroups } from './commands/groups';
import { HOST_ACTIONS, runHost, type HostAction } from './commands/host-mode';
import { runSimulate } from './commands/simulate';

const SCRIPT = 'qemu-sandbox';

/** Options every read command shares. */
function common<T>(y: Argv<T>) {
  return y
    .option('arch', {
      type: 'string',
      // Short enough that yargs keeps "[string]" in its own column at 100 columns.
      describe: 'ABI or alias (x86_64, aarch64, i386, amd64...); default: this host',
    })
    .option('json', { type: 'boolean', default: false, describe: 'Machine-readable output' });
}

/** The POLICY positional of compile, simulate and export. */
function policyPositional<T>(y: Argv<T>) {
  return y.positional('policy', {
    type: 'string',
    demandOption: true,
    describe: '-sandbox string',
  });
}

/** compile --json is --format json; with another explicit --format it is a contradiction. */
function jsonFormat(json: boolean, format: CompileFormat, argv: readonly string[]): CompileFormat {
  if (!json) return format;
  const explicit = argv.some((a) => a === '--format' || a.startsWith('--format='));
  if (explicit && format !== 'json') throw new UsageError(`--json contradicts --format ${format}`);
  return 'json';
}

function dashArgs(dashed: unknown): string[] {
  return Array.isArray(dashed) ? dashed.map(String) : [];
}

function build(
  ctx: CliContext,
  argv: readonly string[],
  setJob: (job: () => Promise<void> | void) => void,
): Argv {
  return (
    yargs()
      .scriptName(SCRIPT)
      .usage(
        `$0 <command> [options]\n\n` +
          'See, test and share a qemu-sandboxed policy. POLICY is a -sandbox string such as ' +
          '"on,spawn=deny", merged onto the site default exactly as the launcher does.',
      )
      // Hex and long numbers must stay strings: 0x10 and 18446744073709551615 are syscall arguments.
      .parserConfiguration({
        'parse-numbers': false,
        'parse-positional-numbers': false,
        'populate--': true,
      })
      .command(
        'groups [group]',
        'Every group with its syscalls, action and reason, then the syscalls no group names',
        (y) =>
          common(y)
            .positional('group', {
              type: 'string',
              describe: 'only this group (default, spawn, ...)',
            })
            .example('$0 groups --arch aarch64', 'the groups as they apply on aarch64')
            .example('$0 groups spawn', 'what spawn=deny takes away'),
        (a) => setJob(() => runGroups(ctx, { group: a.group, arch: a.arch, json: a.json })),
      )
      .command(
        'explain [policy]',
        'What POLICY does: per action, with argument checks in words, foreign ABIs, no-new-privs and the exec gate',
        (y) =>
          common(y)
            .positional('policy', {
              type: 'string',
              describe: '-sandbox string; none: a launch without -sandbox (the site default)',
            })
            .option('vm', {
              type: 'string',
              describe:
                'VM name (QEMU\'s -name guest=NAME): apply its "vms" entry of the site config',
            })
            .example('$0 explain on,spawn=deny', 'what spawn=deny adds to the default')
            .example(
              '$0 explain --vm web1',
              'what VM web1 gets without -sandbox (site default < vms.web1, then the minimum)',
            ),
        (a) =>
          setJob(() => runExplain(ctx, { policy: a.policy, vm: a.vm, arch: a.arch, json: a.json })),
      )
      .command(
        'compile <policy>',
        'The exact BPF program the launcher loads for POLICY',
        (y) =>
          policyPositional(y)
            .option('arch', { type: 'string', describe: 'host ABI; default: this host' })
            .option('format', {
              choices: COMPILE_FORMATS,
              default: 'disasm' as CompileFormat,
              describe:
                'raw: struct sock_filter[] in the ABI byte order (bwrap --seccomp FD); c: a C array; ' +
                'json: instructions and metadata; disasm: readable',
            })
            .option('output', {
              alias: 'o',
              type: 'string',
              describe: 'write to FILE instead of stdout',
            })
            .option('json', { type: 'boolean', default: false, describe: 'same as --format json' })
            .example('$0 compile on --format raw -o f.bpf', 'bwrap --seccomp 9 9<f.bpf')
            .example('$0 compile on --format c --arch aarch64', 'a C array for aarch64'),
        (a) =>
          setJob(() =>
            runCompile(ctx, {
              policy: a.policy,
              arch: a.arch,
              format: jsonFormat(a.json, a.format, argv),
              output: a.output,
            }),
          ),
      )
      .command(
        'simulate <policy> <syscall> [args..]',
        'The verdict POLICY gives one call, and the instructions it executes',
        (y) =>
          policyPositional(common(y))
            .positional('syscall', {
              type: 'string',
              demandOption: true,
              describe: 'name or number',
            })
            .positional('args', {
              type: 'string',
              array: true,
              describe: 'up to 6, decimal or 0x hex',
            })
            .example('$0 simulate on,spawn=deny clone 0x3d0f00', "a thread's clone: allowed")
            .example('$0 simulate on,network=deny socket 2', 'AF_INET: EAFNOSUPPORT'),
        (a) =>
          setJob(() =>
            runSimulate(ctx, {
              policy: a.policy,
              syscall: a.syscall,
              // Negative numbers look like options to yargs: `simulate P ioctl -- -1` passes them.
              args: [...(a.args ?? []), ...dashArgs(a['--'])],
              arch: a.arch,
              json: a.json,
            }),
          ),
      )
      .command(
        'doctor',
        'What this host supports, which QEMU would run, and the preflight verdict for QEMU ARGS after --',
        (y) =>
          y
            .option('json', {
              type: 'boolean',
              default: false,
              describe: 'Machine-readable output',
            })
            .usage(
              '$0 doctor [--json] [-- QEMU ARGS...]\n\n' +
                'What this host supports, which QEMU would run, and the preflight verdict for QEMU ARGS',
            )
            .example('$0 doctor', 'host support and the QEMU binary')
            .example('$0 doctor -- -daemonize -nographic', 'would the launcher start this?'),
        (a) => {
          // 'populate--' puts everything after `--` here, untouched by yargs.
          const rest = dashArgs(a['--']);
          setJob(() => runDoctor(ctx, { qemuArgs: rest, json: a.json }));
        },
      )
      .command(
        'audit [file]',
        'Explain kernel seccomp records (type=1326): which group denied what, and the change that allows it',
        (y) =>
          y
            .positional('file', {
              type: 'string',
              describe: 'audit.log, a saved dmesg/journal, or - for stdin; default: the kernel log',
            })
            .option('since', {
              type: 'string',
              describe: 'only records at or after TIME (ISO, @EPOCH, 10m, 2h, 1d)',
            })
            .option('policy', {
              type: 'string',
              describe:
                'the policy QEMU ran with, to confirm it denies each call; default: the site default',
            })
            .option('json', {
              type: 'boolean',
              default: false,
              describe: 'Machine-readable output',
            })
            .option('suggest', {
              type: 'boolean',
              default: false,
              describe:
                'per VM, the strictest policy it would have run under without one denial (records of dry-run launches, action=log; needs --launches)',
            })
            .option('launches', {
              type: 'string',
              array: true,
              describe:
                "files with the launcher's launch records (QEMU_SANDBOXED_LOG, libvirt's domain logs): which pid was which VM, with which policy",
            })
            .option('format', {
              choices: AUDIT_FORMATS,
              default: 'table' as AuditFormat,
              describe: 'table, or prometheus: counters by VM, group, syscall and action',
            })
            .option('output', {
              type: 'string',
              describe: 'with --format prometheus: write FILE atomically (temp file + rename)',
            })
            .example('$0 audit --since 1h', 'what the kernel logged in the last hour')
            .example(
              '$0 audit /var/log/audit/audit.log --since 7d --suggest --launches /var/log/libvirt/qemu/*.log',
              'per VM, the strictest policy the dry run allows',
            )
            .example(
              '$0 audit --launches /var/log/qemu-sandboxed.log --format prometheus --output /var/lib/prometheus/node-exporter/qemu-sandbox.prom',
              'counters for the textfile collector',
            )
            .example('journalctl -k | $0 audit -', 'records from the journal')
            .example('$0 audit /var/log/audit/audit.log --json', 'auditd log'),
        (a) =>
          setJob(() =>
            runAudit(ctx, {
              file: a.file,
              since: a.since,
              policy: a.policy,
              json: a.json,
              suggest: a.suggest,
              format: a.format,
              launches: a.launches,
              output: a.output,
            }),
          ),
      )
      .command(
        'export <policy>',
        'POLICY for other tools: an OCI linux.seccomp object or systemd unit lines',
        (y) =>
          policyPositional(y)
            .option('format', {
              choices: EXPORT_FORMATS,
              demandOption: true,
              describe: 'oci or systemd',
            })
            .option('arch', { type: 'string', describe: 'host ABI; default: this host' })
            .option('json', {
              type: 'boolean',
              default: false,
              describe: 'systemd: {header, lines, notes} as JSON (oci is always JSON)',
            })
            .example('$0 export on --format oci > s.json', 'podman --security-opt seccomp=s.json')
            .example('$0 export on --format systemd', 'lines for a unit [Service] section'),
        (a) =>
          setJob(() =>
            runExport(ctx, {
              policy: a.policy,
              format: a.format as ExportFormat,
              arch: a.arch,
              json: a.json,
            }),
          ),
      )
      .command(
        'host <action>',
        'Host-wide mode (Debian package): the launcher in front of every qemu-system-* on this host, by dpkg-divert',
        (y) =>
          y
            .positional('action', {
              choices: HOST_ACTIONS,
              describe:
                'enable: divert every qemu-system-* program to the launcher; disable: put QEMU back; status: what is diverted',
            })
            .option('json', {
              type: 'boolean',
              default: false,
              describe: 'Machine-readable status',
            })
            .example('$0 host enable', 'every QEMU started on this host runs sandboxed')
            .example('$0 host status --json', 'what is diverted, and any problem'),
        (a) => setJob(() => runHost(ctx, { action: a.action as HostAction, json: a.json })),
      )
      .demandCommand(1, 'a command is required')
      .recommendCommands()
      .strict()
      .strictCommands()
      .help()
      .alias('help', 'h')
      .version(false)
      .wrap(Math.min(100, process.stdout.columns || 100))
      .exitProcess(false)
  );
}

/** Runs the CLI on `argv` (without node and the script); returns the exit code. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  let job: (() => Promise<void> | void) | undefined;
  const parser = build(ctx, argv, (j) => {
    job = j;
  });
  const parsed = await new Promise<{ err?: Error; output: string }>((resolve) => {
    // yargs turns a lone "-" into "" (or true): pass it as a token no path can be (NUL).
    const args = argv.map((a) => (a === '-' ? STDIN_ARG : a));
    parser.parse(args, {}, (err, _args, output) => resolve({ err: err ?? undefined, output }));
  });
  if (parsed.err) {
    // yargs spreads some messages over lines ("Invalid values:\n  Argument: ..."): join them.
    const message = parsed.err.message
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .join(' ');
    ctx.stderr.write(`${SCRIPT}: ${message}\n`);
    ctx.stderr.write(`Run '${SCRIPT} --help' for usage.\n`);
    return EXIT_USAGE;
  }
  if (!job) {
    // --help: yargs produced the text instead of running a command.
    if (parsed.output) ctx.stdout.write(`${parsed.output}\n`);
    return EXIT_OK;
  }
  try {
    await job();
    return EXIT_OK;
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.stderr.write(`${SCRIPT}: ${oneLine(err)}\n`);
      return EXIT_USAGE;
    }
    if (isInternalError(err)) {
      ctx.stderr.write(
        `${SCRIPT}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      return EXIT_INTERNAL;
    }
    ctx.stderr.write(`${SCRIPT}: ${oneLine(err)}\n`);
    return EXIT_INPUT;
  }
}

/** The real process: stdout/stderr, stdin, environment, clock. */
export function processContext(): CliContext {
  return {
    stdout: {
      write: (c) => void process.stdout.write(c),
      isTTY: process.stdout.isTTY === true,
    },
    stderr: {
      write: (c) => void process.stderr.write(c),
      isTTY: process.stderr.isTTY === true,
    },
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
      return Buffer.concat(chunks);
    },
    env: process.env,
    now: () => Date.now(),
  };
}

if (require.main === module) {
  // `qemu-sandbox compile ... | head`: a closed pipe ends us quietly, as SIGPIPE would
  // (Node ignores SIGPIPE and reports EPIPE as an error event instead).
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? EXIT_OK);
    throw err;
  });
  runCli(process.argv.slice(2), processContext()).then(
    (code) => {
      // Let pending stdout writes (a pipe may be slow) drain before exiting.
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${SCRIPT}: internal error: ${String(err)}\n`);
      process.exitCode = EXIT_INTERNAL;
    },
  );
}
