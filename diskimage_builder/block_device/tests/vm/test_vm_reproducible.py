"""vfat and ext4 written through the kernel: two ``build`` runs with one
SOURCE_DATE_EPOCH give the same bytes (the host has no vfat driver)."""
import filecmp
import os
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


def make_tree(root):
    for folder in ('boot/efi/EFI/BOOT', 'boot/efi/EFI/debian', 'usr/lib'):
        os.makedirs(os.path.join(root, folder))
    files = {'boot/efi/EFI/BOOT/BOOTX64.EFI': 'x' * 5000,
             'boot/efi/EFI/debian/grub.cfg': 'search root\n',
             'boot/efi/a long file name.txt': 'long\n',
             'usr/lib/libx.so': 'y' * 70000, 'etc/hostname': 'vm\n'}
    for path, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, path)),
                    exist_ok=True)
        with open(os.path.join(root, path), 'w') as out:
            out.write(text)
    return files


def build(tmp_path, tree, name):
    config = tmp_path / 'layout.yaml'
    config.write_text(LAYOUT)
    output = str(tmp_path / name)
    sh(sys.executable, '-m', 'diskimage_builder.block_device', 'build',
       '--config', str(config), '--root', tree, '--output', output,
       '--size', '160MiB', env={'SOURCE_DATE_EPOCH': '1700000000'})
    return output


def test_vfat_and_ext4_byte_identical(tmp_path):
    tree = str(tmp_path / 'tree')
    files = make_tree(tree)
    first = build(tmp_path, tree, 'a.raw')
    second = build(tmp_path, tree, 'b.raw')
    assert filecmp.cmp(first, second, shallow=False), 'the images differ'

    disk = held.attach(first)
    try:
        esp = held.partition_node(disk, 1)
        root = held.partition_node(disk, 2)
        sh('fsck.vfat', '-n', esp)
        sh('e2fsck', '-f', '-n', root)
        target = str(tmp_path / 'esp')
        os.makedirs(target)
        sh('mount', '-o', 'ro', '-t', 'vfat', esp, target)
        try:
            for path, text in files.items():
                if path.startswith('boot/efi/'):
                    with open(os.path.join(target, path[9:])) as src:
                        assert src.read() == text, path
        finally:
            sh('umount', target)
    finally:
        sh('losetup', '--detach', disk, check=False)
