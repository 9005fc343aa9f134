#!/usr/bin/env python3
"""Benchmarks of dib-block-device, as figures in a small table.

    sudo python3 bench/bench.py [--rounds N] [--config FILE]

Needs root and loop devices.  Measures, on this machine:

* getval: median wall time of ``dib-block-device getval root-label``
  (target under 60 ms), beside the bare interpreter start-up;
* create: median wall time of ``create`` for the GPT compat config on a
  2 GiB image, against the sum of the external commands it ran (from
  DIB_BD_COMMAND_LOG); the difference is our own cost;
* image size: create of the same config on a 1 TiB and on a 1 GiB sparse
  image, time ratio (target under 1.5) and disk blocks used by each;
* build (``--build``, slower, about 1 GiB written per round): ``build``
  of a 1 GiB tree of mixed files to a raw image, against ``cp -a`` of the
  same tree into a fresh ext4 of the same size on a loop device, umount
  (the flush) included in both (target within 1.25x); and the size of
  ``build --format qcow2`` against ``qemu-img convert`` of the raw image.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)  # the package and its test harness, from here
from diskimage_builder.block_device.tests.support import compat  # noqa: E402
from diskimage_builder.block_device.tests.support.harness import \
    Build  # noqa: E402

GPT_COMPAT = 'block-device-gpt--default.yaml'


def tool():
    """The console script itself, not a shim in front of it."""
    beside = os.path.join(os.path.dirname(sys.executable), 'dib-block-device')
    if os.path.exists(beside):
        return [beside]
    return [sys.executable, '-m', 'diskimage_builder.block_device']


def new_build(root, config_text, size):
    """A build in *root* whose phases run the console script."""
    return Build(config_text, root=root, image_size=size,
                 command=tool()).prepare()


def timed(build, *args):
    """Wall seconds of one phase."""
    build.phase(*args)
    return build.timings[-1][1]


def create_once(build):
    """(wall seconds of create, seconds in its commands, disk bytes)"""
    if os.path.exists(build.command_log):
        os.unlink(build.command_log)
    timed(build, 'init')
    wall = timed(build, 'create')
    spent = sum(entry['seconds'] for entry in build.log())
    timed(build, 'umount')
    used = os.stat(build.image()).st_blocks * 512
    timed(build, 'delete')
    return wall, spent, used


def byte_compile():
    """Measure the package as an installation has it: byte-compiled.  An
    editable checkout run with PYTHONDONTWRITEBYTECODE would compile every
    module from source on every run."""
    subprocess.run([sys.executable, '-m', 'compileall', '-q',
                    os.path.join(REPO, 'diskimage_builder')], check=True,
                   stdout=subprocess.DEVNULL)


def median_ms(samples):
    return statistics.median(samples) * 1000


def time_command(argv, rounds):
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--config', help='the layout to build (default: '
                        'diskimage-builder\'s %s)' % GPT_COMPAT)
    parser.add_argument('--build', action='store_true',
                        help='also the build benchmark (1 GiB tree)')
    parser.add_argument('--only-build', action='store_true',
                        help='only the build benchmark')
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('bench.py needs root (loop devices)')
    if args.config:
        with open(args.config) as src:
            config_text = src.read()
    else:
        config_text = compat.compat_text(GPT_COMPAT)
    byte_compile()
    scratch = tempfile.mkdtemp(prefix='dib-bench-', dir='/var/tmp')
    rows = []
    try:
        if not args.only_build:
            rows += bench_getval(scratch, config_text, args.rounds * 6)
            rows += bench_create(scratch, config_text, args.rounds)
            rows += bench_sizes(scratch, config_text,
                                max(3, args.rounds // 2))
        if args.build or args.only_build:
            from bench_build import bench_build
            rows += bench_build(scratch, tool(), max(2, args.rounds // 2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print('%-*s  %12s  %s' % (width, 'figure', 'value', 'target'))
    for name, value, target in rows:
        print('%-*s  %12s  %s' % (width, name, value, target))


def bench_getval(scratch, config_text, rounds):
    build = new_build(os.path.join(scratch, 'getval'), config_text, '2GiB')
    build.phase('init')
    getval = median_ms(time_command(tool() + ['--params', build.params_path,
                                              'getval', 'root-label'],
                                    rounds))
    bare = median_ms(time_command([sys.executable, '-c', 'pass'], rounds))
    build.phase('cleanup')
    return [('getval median (ms)', '%.1f' % getval, '< 60'),
            ('python -c pass median (ms)', '%.1f' % bare, '(start-up floor)')]


def bench_create(scratch, config_text, rounds):
    build = new_build(os.path.join(scratch, 'create'), config_text, '2GiB')
    results = [create_once(build) for _ in range(rounds)]
    wall = statistics.median(r[0] for r in results)
    spent = statistics.median(r[1] for r in results)
    return [('create 2 GiB GPT, wall (ms)', '%.1f' % (wall * 1000), ''),
            ('create: sum of its commands (ms)', '%.1f' % (spent * 1000),
             ''),
            ('create: our own cost (ms)', '%.1f' % ((wall - spent) * 1000),
             ''),
            ('create: wall / commands', '%.2f' % (wall / spent), '< 1.2')]


def bench_sizes(scratch, config_text, rounds):
    out = {}
    for size in ('1GiB', '1TiB'):
        build = new_build(os.path.join(scratch, 'size-' + size),
                          config_text, size)
        results = [create_once(build) for _ in range(rounds)]
        out[size] = (statistics.median(r[0] for r in results),
                     max(r[2] for r in results))
    ratio = out['1TiB'][0] / out['1GiB'][0]
    return [('create 1 GiB image, wall (ms)', '%.1f' % (out['1GiB'][0] * 1000),
             ''),
            ('create 1 TiB image, wall (ms)', '%.1f' % (out['1TiB'][0] * 1000),
             ''),
            ('1 TiB / 1 GiB time', '%.2f' % ratio, '< 1.5'),
            ('disk used, 1 GiB image (KiB)', '%d' % (out['1GiB'][1] // 1024),
             ''),
            ('disk used, 1 TiB image (KiB)', '%d' % (out['1TiB'][1] // 1024),
             '')]


if __name__ == '__main__':
    main()
