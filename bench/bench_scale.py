#!/usr/bin/env python3
"""How the cost of a build grows with the number of partitions.

    sudo python3 bench/bench_scale.py [--rounds N] [--counts 8,128]

create + umount + cleanup of a GPT image with N partitions of 4 MiB each
(no filesystems: the per-partition cost of this program and the kernel,
not of mkfs), each phase a fresh process as the image builder runs them;
median wall time of several rounds per count, and the ratio of the
largest count to the smallest (target: 128 partitions within 2.5x of 8).
Also prints where the time goes: the sum of the external commands and
the number of journal writes of one create.
"""
import argparse
import os
import statistics
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # the package and its test harness, from here
from diskimage_builder.block_device.tests.support.harness import \
    Build  # noqa: E402


def config(count):
    parts = ''.join('      - {name: p%d, size: 4MiB}\n' % number
                    for number in range(1, count + 1))
    return ('- local_loop: {name: image0}\n- partitioning:\n'
            '    base: image0\n    label: gpt\n    partitions:\n' + parts)


def one_round(count, scratch):
    """(wall seconds of create + umount + cleanup, seconds in their
    commands)"""
    build = Build(config(count), root=tempfile.mkdtemp(dir=scratch),
                  image_size='%dMiB' % (4 * count + 8)).prepare()
    build.phase('init')
    for name in ('create', 'umount', 'cleanup'):
        build.phase(name)
    took = sum(seconds for _, seconds in build.timings[1:])
    commands = sum(entry['seconds'] for entry in build.log())
    return took, commands


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--counts', default='8,128')
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('bench_scale.py needs root (loop devices)')
    counts = [int(c) for c in args.counts.split(',')]
    rows = {}
    with tempfile.TemporaryDirectory(prefix='dib-scale-') as scratch:
        for count in counts:
            rounds = [one_round(count, scratch) for _ in range(args.rounds)]
            rows[count] = (statistics.median(r[0] for r in rounds),
                           statistics.median(r[1] for r in rounds))
    print('%-12s %12s %14s' % ('partitions', 'wall (s)', 'commands (s)'))
    for count in counts:
        print('%-12d %12.3f %14.3f' % (count, *rows[count]))
    print('ratio %d/%d: %.2f (target < 2.5)' % (
        counts[-1], counts[0], rows[counts[-1]][0] / rows[counts[0]][0]))


if __name__ == '__main__':
    main()
