"""The ESP ``build --offline`` writes (mkfs.vfat and mtools, no kernel)
read by the kernel's vfat, which the host kernel lacks: the files are
the tree's, and the same as in the kernel path's ESP of the same tree,
whose boot sector says the same filesystem (FAT type, cluster size,
hidden sectors, identity).  Not the geometry: mkfs.fat takes it from
the loop partition, which Debian's 6.1 kernel here reports as 32
sectors a track where the host's kernel reports 63 (what the offline
build writes), and the total follows it, rounded to whole tracks."""
import hashlib
import os
import struct
import sys

from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support.harness import sh

LAYOUT = """
- local_loop: {name: image0}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: ESP
        type: 'EF00'
        size: 40MiB
        mkfs: {type: vfat, label: ESP,
               mount: {mount_point: /boot/efi, fstab: {}}}
      - name: root
        size: 100%
        mkfs: {type: ext4, label: root, mount: {mount_point: /, fstab: {}}}
"""
ENV = {'SOURCE_DATE_EPOCH': '1700000000', 'TZ': 'UTC'}
# Even seconds: FAT keeps times in two-second steps.
MTIME = 1600000000
FILES = {
    'EFI/BOOT/BOOTX64.EFI': b'\x7fEFI' * 75000,
    'EFI/debian/grub.cfg': b'search --label root\n',
    'EFI/debian/a long file name.txt': b'long\n',
    'EFI/debian/ünïcödé ☃ long name.txt': b'unicode, long\n',
    'EFI/debian/ü.txt': b'unicode, short\n',
    'EFI/empty': b'',
    'deep/a/b/c/d/file': b'deep\n',
}


def make_tree(root):
    for index, (path, data) in enumerate(sorted(FILES.items())):
        full = os.path.join(root, 'boot', 'efi', path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'wb') as out:
            out.write(data)
        os.utime(full, (MTIME + 2 * index, MTIME + 2 * index))
    os.makedirs(os.path.join(root, 'etc'))
    with open(os.path.join(root, 'etc', 'hostname'), 'w') as out:
        out.write('vm\n')


def expected_files():
    return {path: (len(data), hashlib.sha256(data).hexdigest(),
                   MTIME + 2 * index)
            for index, (path, data) in enumerate(sorted(FILES.items()))}


def build(tmp_path, tree, mode):
    config = tmp_path / 'layout.yaml'
    config.write_text(LAYOUT)
    output = str(tmp_path / (mode + '.raw'))
    sh(sys.executable, '-m', 'diskimage_builder.block_device', 'build',
       '--mode', mode, '--config', str(config), '--root', tree,
       '--output', output, '--size', '128MiB', '--seed', 'vfat-test',
       env=ENV)
    return output


def esp_of(image, target):
    """(boot sector, {path: (size, sha256, mtime)}) of the image's ESP
    as the kernel's vfat reads it."""
    disk = held.attach(image)
    try:
        esp = held.partition_node(disk, 1)
        sh('fsck.vfat', '-n', esp)
        with open(esp, 'rb') as src:
            boot = src.read(512)
        os.makedirs(target)
        sh('mount', '-o', 'ro,utf8,tz=UTC', '-t', 'vfat', esp, target)
        try:
            return boot, files_below(target)
        finally:
            sh('umount', target)
    finally:
        sh('losetup', '--detach', disk, check=False)


def files_below(top):
    found = {}
    for folder, _, files in os.walk(top):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, 'rb') as src:
                digest = hashlib.sha256(src.read()).hexdigest()
            info = os.stat(path)
            found[os.path.relpath(path, top)] = (info.st_size, digest,
                                                 int(info.st_mtime))
    return found


def test_offline_esp_read_by_the_kernel(tmp_path):
    tree = str(tmp_path / 'tree')
    make_tree(tree)
    offline = build(tmp_path, tree, 'offline')
    kernel = build(tmp_path, tree, 'kernel')
    offline_boot, offline_files = esp_of(offline, str(tmp_path / 'a'))
    kernel_boot, kernel_files = esp_of(kernel, str(tmp_path / 'b'))
    assert offline_files == expected_files()
    assert kernel_files == expected_files()
    assert boot_fields(offline_boot) == boot_fields(kernel_boot)


def boot_fields(sector):
    """What a FAT boot sector says of the filesystem, but the geometry."""
    (size, cluster, reserved, fats, entries, media, hidden) = \
        struct.unpack_from('<HBHBHxxBxxxxxxI', sector, 11)
    volume_id, label, kind = struct.unpack_from('<I11s8s', sector, 39)
    return {'sector': size, 'cluster': cluster, 'reserved': reserved,
            'fats': fats, 'root entries': entries, 'media': media,
            'hidden': hidden, 'volume id': volume_id, 'label': label,
            'type': kind}
