"""The build benchmark of bench.py: ``dib-block-device build`` of a tree
against ``cp -a`` of it into the same kind of filesystem, and the qcow2
it writes against ``qemu-img convert`` of its raw image."""
import os
import random
import statistics
import subprocess
import time

from diskimage_builder.block_device.level2.mkfs import mkfs_argv

MiB = 1 << 20


def make_tree(root, seed=7):
    """About 1 GiB of mixed files, the same every time: many small files
    (half compressible text), medium and large ones, hard links, symlinks
    and a sparse file."""
    rng = random.Random(seed)
    for folder in range(200):
        path = os.path.join(root, 'usr', 'share', 'd%03d' % folder)
        os.makedirs(path)
        for index in range(100):
            size = rng.randrange(0, 16 * 1024)
            data = (rng.randbytes(size) if index % 2 else
                    (b'line %d of a text file\n' % index) * (size // 24))
            with open(os.path.join(path, 'f%03d' % index), 'wb') as out:
                out.write(data)
        os.symlink('f000', os.path.join(path, 'link'))
        os.link(os.path.join(path, 'f001'), os.path.join(path, 'hard'))
    lib = os.path.join(root, 'usr', 'lib')
    os.makedirs(lib)
    for index in range(300):
        with open(os.path.join(lib, 'm%03d.so' % index), 'wb') as out:
            out.write(rng.randbytes(MiB))
    big = os.path.join(root, 'var', 'big')
    os.makedirs(big)
    for index in range(4):
        with open(os.path.join(big, 'blob%d' % index), 'wb') as out:
            for _ in range(128):
                out.write(rng.randbytes(MiB))
    with open(os.path.join(big, 'sparse'), 'wb') as out:
        out.truncate(1 << 30)
        out.seek(512 * MiB)
        out.write(b'x' * MiB)


def run(*argv, **kwargs):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE,
                          text=True, **kwargs).stdout


def timed(fn):
    subprocess.run(['sync'], check=True)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cp_into_fresh_ext4(scratch, tree, size):
    """Seconds of cp -a into a new ext4 of *size*, umount (the flush)
    included."""
    image = os.path.join(scratch, 'cp.raw')
    with open(image, 'wb') as out:
        out.truncate(size)
    loop = run('losetup', '--find', '--show', image).strip()
    target = os.path.join(scratch, 'cp-mnt')
    os.makedirs(target, exist_ok=True)
    try:
        # The same kind of filesystem: the mkfs command build runs.
        run(*mkfs_argv('ext4', loop, zeroed=True))
        run('mount', '-t', 'ext4', loop, target)

        def copy():
            run('cp', '-a', '--sparse=always', '--', tree + '/.', target)
            run('umount', target)
        return timed(copy)
    finally:
        subprocess.run(['umount', target], stderr=subprocess.DEVNULL)
        run('losetup', '--detach', loop)
        os.unlink(image)


def build(tool, scratch, tree, output, size, fmt='raw'):
    return timed(lambda: run(*tool, 'build', '--root', tree, '--output',
                             output, '--size', str(size), '--format', fmt,
                             stderr=subprocess.DEVNULL))


def bench_build(scratch, tool, rounds):
    tree = os.path.join(scratch, 'tree')
    make_tree(tree)
    used = int(run('du', '-s', '--block-size=1', tree).split()[0])
    size = (used + used // 3 + 256 * MiB) // MiB * MiB
    raw = os.path.join(scratch, 'built.raw')
    ours, base = [], []
    for index in range(rounds):
        # Alternate who goes first: whoever follows pays for the other's
        # freed blocks being reclaimed by the host file system.
        if os.path.exists(raw):
            os.unlink(raw)
        if index % 2:
            ours.append(build(tool, scratch, tree, raw, size))
            base.append(cp_into_fresh_ext4(scratch, tree, size))
        else:
            base.append(cp_into_fresh_ext4(scratch, tree, size))
            ours.append(build(tool, scratch, tree, raw, size))
        print('round %d: cp -a %.2fs, build %.2fs' % (index + 1, base[-1],
                                                      ours[-1]))
    qcow2 = os.path.join(scratch, 'built.qcow2')
    build(tool, scratch, tree, qcow2, size, 'qcow2')
    converted = os.path.join(scratch, 'converted.qcow2')
    run('qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, converted)
    ours_s, base_s = statistics.median(ours), statistics.median(base)
    ours_q, ref_q = os.stat(qcow2).st_size, os.stat(converted).st_size
    return [
        ('tree: allocated (MiB)', '%d' % (used // MiB), ''),
        ('cp -a into fresh ext4 + umount (s)', '%.2f' % base_s, ''),
        ('build --format raw (s)', '%.2f' % ours_s, ''),
        ('build / cp -a', '%.2f' % (ours_s / base_s), '< 1.25'),
        ('build --format qcow2 size (MiB)', '%.1f' % (ours_q / MiB), ''),
        ('qemu-img convert of raw (MiB)', '%.1f' % (ref_q / MiB), ''),
        ('qcow2 ours / qemu-img', '%.3f' % (ours_q / ref_q), ''),
    ]
