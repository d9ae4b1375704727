/**
 * `node dist/scripts/build-guest.js [--print-args]`: builds the e2e/demo test
 * guest (or finds it in .cache/guest/) and prints where it is; with
 * --print-args, also a QEMU command line that boots it, for trying it by hand.
 * The build itself is scripts/build-guest.sh (its hash keys the cache).
 */
import { ensureGuest } from './lib/guest';
import { guestArgs, qemuBinary } from './lib/vm';

async function main(): Promise<void> {
  const guest = await ensureGuest({
    onBuildStart: () =>
      process.stderr.write('build-guest: building (downloads linux-image-amd64)\n'),
  });
  process.stdout.write(
    `${guest.dir} (${guest.kernelPackage}, ${guest.built ? `built in ${guest.buildMs} ms` : 'cached'})\n`,
  );
  if (process.argv.includes('--print-args')) {
    const args = guestArgs({ via: 'qemu', guest, checks: ['cpu', 'nonet'] });
    const quoted = args.map((a) => (/\s/.test(a) ? `'${a}'` : a));
    process.stdout.write(`${qemuBinary()} ${quoted.join(' ')}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`build-guest: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
