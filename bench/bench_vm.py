#!/usr/bin/env python3
"""The VM benchmark: create + umount + cleanup of the efi-lvm compat
config (GPT, ESP, LVM with three LVs, xfs), in a virtme-ng VM, against the
sum of the external commands those phases ran; and how many times they
called ``udevadm settle``.

    sudo python3 bench/bench_vm.py [--rounds N]

Boots one VM with the VM test tier's runner (``--exec``) and runs itself
inside it.  The VM runs under TCG, so every figure is many times the
host's; the ratio is what compares.
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
EFI_LVM = 'block-device-efi-lvm--default.yaml'
# The smallest image its fixed-size partitions and LVs fit in.
EFI_LVM_SIZE = '38GiB'
PHASES = ('create', 'umount', 'cleanup')

sys.path.insert(0, HERE)
from bench import byte_compile  # noqa: E402
from bench import new_build  # noqa: E402
from bench import timed  # noqa: E402
from diskimage_builder.block_device.tests.support.compat import \
    compat_text  # noqa: E402


def one_round(scratch, config_text, index):
    build = new_build(os.path.join(scratch, 'r%d' % index), config_text,
                      EFI_LVM_SIZE)
    timed(build, 'init')
    walls = {phase: timed(build, phase) for phase in PHASES}
    commands = build.log()
    os.unlink(build.image())
    shutil.rmtree(build.root)
    return walls, commands


def inside(rounds):
    config_text = compat_text(EFI_LVM)
    scratch = tempfile.mkdtemp(prefix='dib-bench-vm-')
    start = time.perf_counter()
    subprocess.run([sys.executable, '-c', 'pass'], check=True)
    bare = time.perf_counter() - start
    results = [one_round(scratch, config_text, i) for i in range(rounds)]
    shutil.rmtree(scratch, ignore_errors=True)
    walls = [sum(w.values()) for w, _ in results]
    spent = [sum(c['seconds'] for c in cmds) for _, cmds in results]
    settles = max(sum(1 for c in cmds if c['argv'][:2] == ['udevadm',
                                                           'settle'])
                  for _, cmds in results)
    count = len(results[0][1])
    wall, cmd = statistics.median(walls), statistics.median(spent)
    rows = [
        ('efi-lvm create+umount+cleanup, wall (s)', '%.2f' % wall, ''),
        ('  of which create / umount / cleanup (s)', ' / '.join(
            '%.2f' % statistics.median(w[p] for w, _ in results)
            for p in PHASES), ''),
        ('sum of its %d commands (s)' % count, '%.2f' % cmd, ''),
        ('wall / commands', '%.2f' % (wall / cmd), '< 1.2'),
        ('udevadm settle calls', '%d' % settles, '0'),
        ('python -c pass in the VM (s)', '%.2f' % bare,
         '(start-up floor, x3 phases)'),
    ]
    width = max(len(r[0]) for r in rows)
    print('%-*s  %20s  %s' % (width, 'figure (VM, TCG)', 'value', 'target'))
    for name, value, target in rows:
        print('%-*s  %20s  %s' % (width, name, value, target))
    print('commands: ' + ' '.join(c['argv'][0] for c in results[0][1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--inside', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        return inside(args.rounds)
    if os.geteuid() != 0:
        sys.exit('bench_vm.py needs root (it boots a VM with loop devices)')
    byte_compile()      # the guest sees the repo read-only
    return subprocess.call([
        sys.executable, '-m',
        'diskimage_builder.block_device.tests.support.vmrunner',
        '--timeout', '40', '--exec', '--', os.path.realpath(sys.executable),
        os.path.abspath(__file__), '--inside', '--rounds', str(args.rounds)],
        cwd=REPO)


if __name__ == '__main__':
    sys.exit(main())
