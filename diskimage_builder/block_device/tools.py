"""The host commands this tool runs and the Debian package of each: one
table.  Which commands a build needs is never written by hand: it is what
a recorded ``create`` runs and what releasing what it holds runs
(:func:`needed`)."""
import shutil

from diskimage_builder.block_device.errors import UsageError

PACKAGES = {
    'blkid': 'util-linux', 'fstrim': 'util-linux', 'losetup': 'util-linux',
    'mkswap': 'util-linux', 'partx': 'util-linux', 'wipefs': 'util-linux',
    'mount': 'mount', 'umount': 'mount',
    'cp': 'coreutils', 'dd': 'coreutils', 'sync': 'coreutils',
    'fuser': 'psmisc',
    'mkfs.ext2': 'e2fsprogs', 'mkfs.ext3': 'e2fsprogs',
    'mkfs.ext4': 'e2fsprogs', 'debugfs': 'e2fsprogs', 'tune2fs': 'e2fsprogs',
    'dumpe2fs': 'e2fsprogs', 'e2fsck': 'e2fsprogs',
    'mkfs.xfs': 'xfsprogs', 'mkfs.vfat': 'dosfstools',
    'mkfs.btrfs': 'btrfs-progs', 'btrfs': 'btrfs-progs',
    'pvcreate': 'lvm2', 'vgcreate': 'lvm2', 'lvcreate': 'lvm2',
    'vgchange': 'lvm2', 'lvchange': 'lvm2',
    'thin_check': 'thin-provisioning-tools',
    'cryptsetup': 'cryptsetup-bin', 'veritysetup': 'cryptsetup-bin',
    'openssl': 'openssl', 'mdadm': 'mdadm', 'udevadm': 'udev',
    'qemu-img': 'qemu-utils',
}


def needed(commands, holds):
    """The commands a build runs: those of its recorded create and check,
    and those the release of each resource it holds runs."""
    from diskimage_builder.block_device import resources
    found = {entry['argv'][0] for entry in commands}
    for entry in holds:
        found.update(resources.release_tools(entry['kind'], entry['args']))
    return found


def check(names):
    """UsageError naming each missing command and its package."""
    missing = sorted(name for name in names if shutil.which(name) is None)
    if missing:
        raise UsageError('missing host tools: %s' % ', '.join(
            '%s (install package %s)' % (name, PACKAGES.get(name, '?'))
            for name in missing))
