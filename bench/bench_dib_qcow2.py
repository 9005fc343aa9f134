#!/usr/bin/env python3
"""The image this package leaves against the one diskimage-builder's own
layer leaves, for the same tree: each layer driven as disk-image-create
drives it (support/dib/compare.py's Lifecycle, from the ``upstream`` and
``dropin`` venvs) through the GPT compat config, with a tree copied into
its mount base and a build's scratch file written and deleted there
before ``umount`` (what trimming before unmounting is for); the raw image
converted to qcow2 with ``qemu-img convert``.  Sizes of both, and their
ratio (target: this package's no larger).

    sudo python3 bench/bench_dib_qcow2.py [--tree-mib N]

Upstream's layer maps partitions with kpartx (device-mapper), so this
runs in one VM of the VM tier's runner; the venvs come from
``python -m diskimage_builder.block_device.tests.support.dib.venvs``.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CONFIG = 'block-device-gpt--default.yaml'
MIB = 1 << 20

sys.path.insert(0, HERE)
from bench import byte_compile  # noqa: E402
from diskimage_builder.block_device.tests.support import harness  # noqa
from diskimage_builder.block_device.tests.support.compat import \
    compat_path  # noqa: E402
from diskimage_builder.block_device.tests.support.dib import compare  # noqa
from diskimage_builder.block_device.tests.support.dib import venvs  # noqa


class Filled(compare.Lifecycle):
    """A layer's lifecycle with the tree copied in after writefstab, and
    a scratch file written and deleted there."""

    tree = None

    def phase(self, *args):
        out = super().phase(*args)
        if args == ('writefstab',):
            mnt = os.path.join(self.build_dir, 'mnt')
            harness.run(['cp', '-a', self.tree + '/.', mnt + '/'])
            scratch = os.path.join(mnt, 'build-scratch-file')
            with open(scratch, 'wb') as out_file:
                for _ in range(64):
                    out_file.write(random.randbytes(MIB))
            os.unlink(scratch)
        return out


def make_tree(root, mib):
    rng = random.Random(11)
    for index in range(mib):
        folder = os.path.join(root, 'usr', 'share', 'd%03d' % (index % 50))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, 'f%04d' % index), 'wb') as out:
            out.write(rng.randbytes(MIB // 2) + b'text line\n' * 52428)


def one_layer(name, argv, scratch, tree):
    Filled.tree = tree
    life = Filled(name, argv, compat_path(CONFIG), scratch)
    answers = life.run()
    qcow2 = os.path.join(scratch, name + '.qcow2')
    harness.run(['qemu-img', 'convert', '-O', 'qcow2',
                 answers['image-path'], qcow2])
    return os.stat(qcow2).st_size


def inside(tree_mib):
    scratch = tempfile.mkdtemp(prefix='dib-qcow2-')
    # A tmpfs: a loop device over it can discard (9p cannot).
    harness.run(['mount', '-t', 'tmpfs', '-o', 'size=3g', 'tmpfs', scratch])
    try:
        tree = os.path.join(scratch, 'tree')
        make_tree(tree, tree_mib)
        sizes = {}
        for name in ('upstream', 'dropin'):
            venv = venvs.require(name)
            with venvs.MountedInVm(venv):
                sizes[name] = one_layer(name, [
                    venv.python, venv.block_device_script], scratch, tree)
    finally:
        harness.run(['umount', '-l', scratch], check=False)
    print('%-44s %12s' % ('qcow2 of the GPT compat config, %d MiB tree'
                          % tree_mib, 'bytes'))
    print('%-44s %12d' % ("diskimage-builder 3.43.0's layer", sizes[
        'upstream']))
    print('%-44s %12d' % ('this package', sizes['dropin']))
    print('%-44s %12.3f  (target <= 1.0)' % (
        'this package / upstream', sizes['dropin'] / sizes['upstream']))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tree-mib', type=int, default=200)
    parser.add_argument('--inside', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        return inside(args.tree_mib)
    if os.geteuid() != 0:
        sys.exit('bench_dib_qcow2.py needs root (it boots a VM)')
    subprocess.run([sys.executable, '-m', 'diskimage_builder.block_device.'
                    'tests.support.dib.venvs'], check=True, cwd=REPO)
    byte_compile()
    return subprocess.call([
        sys.executable, '-m',
        'diskimage_builder.block_device.tests.support.vmrunner',
        '--timeout', '60', '--exec', '--', os.path.realpath(sys.executable),
        os.path.abspath(__file__), '--inside', '--tree-mib',
        str(args.tree_mib)], cwd=REPO)


if __name__ == '__main__':
    sys.exit(main())
