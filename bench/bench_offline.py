#!/usr/bin/env python3
"""The offline build against the kernel path, as figures in a table.

    sudo python3 bench/bench_offline.py [--rounds N] [--files N]

Needs root (the kernel path).  Both paths are ``build`` of the default
layout (one GPT partition, ext4 at ``/``) run as root, the offline one
with ``--offline``; each time is the command's wall time.

* the 1 GiB tree of mixed files ``bench.py --build`` makes: median of
  N rounds of each, in alternating order (target: offline at most 1.0x
  the kernel path);
* a flat folder of 20,000 small files, once each: mke2fs 1.47 looks
  through the whole folder for each entry it adds (README, "Offline
  builds"), so this is where the offline path is slow;
* ``--size auto`` with the partition ``size: auto``: the image size
  against the tree's ``du`` and against the size ``build`` gives without
  ``--size`` (the tree plus a third plus 256 MiB).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import bench  # noqa: E402
import bench_build  # noqa: E402
from diskimage_builder.block_device import build as build_mod  # noqa: E402

MiB = 1 << 20
# The default layout with its partition fitted to the tree.
AUTO = """\
- local_loop: {name: image0}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: root
        size: auto
        mkfs: {type: ext4, label: root, mount: {mount_point: /, fstab: {}}}
"""


def build(tool, tree, output, *extra):
    """Wall seconds of one build of *tree* into *output*."""
    if os.path.exists(output):
        os.unlink(output)
    return bench_build.timed(lambda: bench_build.run(
        *tool, 'build', '--root', tree, '--output', output, *extra,
        stderr=subprocess.DEVNULL))


def compare(tool, scratch, tree, rounds, size):
    """([offline seconds], [kernel seconds]) of *rounds* of each,
    alternating which goes first."""
    output = os.path.join(scratch, 'out.raw')
    offline, kernel = [], []
    for index in range(rounds):
        order = [('offline', '--offline'), ('kernel', '--mode', 'kernel')]
        for name, *mode in order if index % 2 == 0 else order[::-1]:
            took = build(tool, tree, output, '--size', str(size), *mode)
            (offline if name == 'offline' else kernel).append(took)
            print('round %d: %s %.2fs' % (index + 1, name, took),
                  flush=True)
    os.unlink(output)
    return offline, kernel


def flat_tree(root, count):
    os.makedirs(os.path.join(root, 'flat'))
    for index in range(count):
        with open(os.path.join(root, 'flat', 'file%05d' % index), 'w') as out:
            out.write('file %d\n' % index)


def bench_mixed(tool, scratch, rounds):
    tree = os.path.join(scratch, 'mixed')
    bench_build.make_tree(tree)
    used = build_mod.tree_bytes(tree)
    size = build_mod.default_size(tree)
    offline, kernel = compare(tool, scratch, tree, rounds, size)
    auto, config = (os.path.join(scratch, name)
                    for name in ('auto.raw', 'auto.yaml'))
    with open(config, 'w') as out:
        out.write(AUTO)
    build(tool, tree, auto, '--offline', '--size', 'auto', '--config',
          config)
    auto_size = os.path.getsize(auto)
    os.unlink(auto)
    ratio = statistics.median(offline) / statistics.median(kernel)
    return [
        ('1 GiB tree: allocated (MiB)', '%d' % (used // MiB), ''),
        ('1 GiB tree: offline build (s)',
         '%.2f' % statistics.median(offline), ''),
        ('1 GiB tree: kernel path build (s)',
         '%.2f' % statistics.median(kernel), ''),
        ('1 GiB tree: offline / kernel', '%.2f' % ratio, '<= 1.0'),
        ('--size auto image (MiB)', '%d' % (auto_size // MiB), ''),
        ('--size auto / du of the tree', '%.3f' % (auto_size / used), ''),
        ('kernel default size (MiB)', '%d' % (size // MiB), ''),
        ('--size auto / kernel default', '%.3f' % (auto_size / size), ''),
    ]


def bench_flat(tool, scratch, count):
    tree = os.path.join(scratch, 'flat-tree')
    flat_tree(tree, count)
    size = build_mod.default_size(tree)
    offline, kernel = compare(tool, scratch, tree, 1, size)
    return [
        ('%d files in one folder: offline (s)' % count,
         '%.2f' % offline[0], ''),
        ('%d files in one folder: kernel (s)' % count, '%.2f' % kernel[0],
         ''),
        ('%d files in one folder: offline / kernel' % count,
         '%.1f' % (offline[0] / kernel[0]), '(mke2fs -d)'),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=4)
    parser.add_argument('--files', type=int, default=20000)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('bench_offline.py needs root (the kernel path)')
    bench.byte_compile()
    scratch = tempfile.mkdtemp(prefix='dib-bench-offline-', dir='/var/tmp')
    try:
        rows = bench_mixed(bench.tool(), scratch, args.rounds)
        rows += bench_flat(bench.tool(), scratch, args.files)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print('%-*s  %10s  %s' % (width, 'figure', 'value', 'target'))
    for name, value, target in rows:
        print('%-*s  %10s  %s' % (width, name, value, target))


if __name__ == '__main__':
    main()
