"""Same bytes from two builds of a filesystem, with SOURCE_DATE_EPOCH.

ext2/3/4
--------

mkfs is already reproducible when seeded (UUID, hash seed, its clock from
``E2FSPROGS_FAKE_TIME``).  What differs afterwards is what the kernel
writes while the filesystem is mounted: inode change and creation times,
file times newer than the epoch (files the build itself wrote), the mount
time, count and path in the superblock, the journal's transactions and,
on ext4, which inode tables the background initialiser zeroed.  So, in a
build with SOURCE_DATE_EPOCH:

* ext4 is mounted with ``noinit_itable`` (no background initialiser) and
  ``nodelalloc``, and the block allocator's per-CPU pools for small files
  are turned off (``mb_stream_req`` 0), so where each file lands depends
  only on the order it is written in;
* at umount, before unmounting: every file time newer than the epoch is
  clamped to it and the inode numbers are listed;
* after unmounting: the journal is made again (``tune2fs``); ``debugfs``
  sets each listed inode's change and creation times to the epoch, its
  generation and change counter to 0, and resets the superblock's mount
  time, count and write counter; ``tune2fs`` sets the last mount point to
  the image's own; with ``metadata_csum`` the checksums are rewritten;
  and ``e2fsck -n`` checks the result.

vfat
----
mkfs.vfat runs with ``--invariant``; the kernel then stamps each new
directory entry with the time it was made.  After unmounting, every entry's
creation time is set to its modification time (which ``cp -a`` copied
from the tree, clamped to the epoch), and the ``.`` and ``..`` entries get
the epoch.

The journal entry (``ext-times``, ``fat-times``) is held right after the
mount, with the mount's identity and the filesystem's UUID, so teardown
runs it (it unmounts itself) before the plain ``mount`` entry, which then
finds nothing left to do; a mount or filesystem that is not the one the
build made is left alone.
"""
import logging
import os
import struct
import time

from diskimage_builder.block_device import resources

LOG = logging.getLogger(__name__)
EXT_TYPES = ('ext2', 'ext3', 'ext4')
# The journal entry that resets each filesystem type's times.
RESETS = dict({fstype: 'ext-times' for fstype in EXT_TYPES},
              vfat='fat-times')


def mount_options(fstype, epoch):
    """Extra ``mount -o`` options for *fstype* in a build with *epoch*."""
    if fstype == 'ext4' and epoch is not None:
        # Blocks are allocated as each write comes, in the writer's order,
        # not when the kernel's flusher threads get to them.
        return ['noinit_itable', 'nodelalloc']
    return []


def reset_kind(fstype, epoch):
    """The journal entry kind that resets *fstype*'s times in a build with
    *epoch*, or None."""
    return RESETS.get(fstype) if epoch is not None else None


def after_mount(ctx, fstype, device):
    """Ready a just-mounted filesystem for a reproducible build; return
    the journal kind that resets it at umount, or None.  ext's block
    allocator is made to place files by the order they are written only:
    small files otherwise come from per-CPU pools, so their place depends
    on which CPU the writer ran on."""
    kind = reset_kind(fstype, ctx.repro.epoch)
    if kind == 'ext-times':
        knob = os.path.join('fs', 'ext4', ctx.host.kernel_name(device),
                            'mb_stream_req')
        if ctx.tune(knob, '0') is False:
            LOG.warning('cannot set %s: where small files land may then '
                        'differ between two builds', knob)
    return kind


def clamp_tree(top, epoch):
    """Clamp access and modification times newer than *epoch* below the
    mount *top* (this filesystem only); return its inode numbers."""
    limit = epoch * 10 ** 9
    device = os.lstat(top).st_dev
    inodes = set()
    for folder, dirs, files in os.walk(top, topdown=False):
        for path in [os.path.join(folder, n) for n in dirs + files] + [
                folder]:
            info = os.lstat(path)
            if info.st_dev != device:
                continue        # a filesystem mounted below this one
            inodes.add(info.st_ino)
            if info.st_atime_ns > limit or info.st_mtime_ns > limit:
                os.utime(path, ns=(min(info.st_atime_ns, limit),
                                   min(info.st_mtime_ns, limit)),
                         follow_symlinks=False)
    return sorted(inodes)


def debugfs_script(inodes, epoch, inode_size):
    """The debugfs commands that reset what mounting changed: pure.
    Generation numbers are random per new inode, and the change counter
    (version) counts however many updates the kernel happened to make;
    mkfs gives its own inodes 0 for both."""
    lines = []
    fields = [('ctime', '@%d' % epoch), ('generation', '0'),
              ('version', '0')]
    if inode_size > 128:
        fields += [('ctime_extra', '0'), ('crtime', '@%d' % epoch),
                   ('crtime_extra', '0')]
    for inode in inodes:
        lines += ['sif <%d> %s %s' % (inode, field, value)
                  for field, value in fields]
    lines += ['ssv mtime @%d' % epoch, 'ssv mnt_count 0',
              'ssv kbytes_written 0']
    return ''.join(line + '\n' for line in lines)


def superblock(runner, device):
    """{field: value} of ``dumpe2fs -h``."""
    out = runner.run(['dumpe2fs', '-h', device]).stdout
    return {key.strip(): value.strip() for key, _, value in
            (line.partition(':') for line in out.splitlines()) if value}


def _our_filesystem(scope, args, shown_uuid):
    """Whether to go on: the mount is this build's (else NotOurs) and
    still there (else None: unmounted already, killed in between, and the
    times stay as they are)."""
    if resources.our_mount(scope, args) is None:
        return False
    if not args.get('uuid') or shown_uuid().lower() != args['uuid'].lower():
        raise resources.NotOurs('%s holds filesystem %s, not %s: its times '
                                'are left as they are' % (
                                    args['device'], shown_uuid(),
                                    args.get('uuid')))
    return True


@resources.releaser('ext-times', tools=resources.UNMOUNT_TOOLS + (
    'dumpe2fs', 'tune2fs', 'debugfs', 'e2fsck'))
def reset_times(scope, args):
    target, device, epoch = args['target'], args['device'], args['epoch']
    runner = scope.runner
    info = {}

    def shown_uuid():
        info.update(info or superblock(runner, device))
        return info.get('Filesystem UUID', '')
    if not _our_filesystem(scope, args, shown_uuid):
        return
    inodes = clamp_tree(target, epoch)
    resources.unmount(runner, target)
    env = {'E2FSPROGS_FAKE_TIME': str(epoch)}
    features = info.get('Filesystem features', '').split()
    if 'has_journal' in features:
        # Its transactions carry commit times and sequence numbers.
        runner.run(['tune2fs', '-O', '^has_journal', device], env=env)
        runner.run(['tune2fs', '-O', 'has_journal', device], env=env)
    runner.run(['debugfs', '-w', '-f', '-', device], env=env,
               stdin=debugfs_script(inodes, epoch,
                                    int(info.get('Inode size', '128'))))
    # The kernel wrote the build's mount path; tune2fs clears the whole
    # field (debugfs would leave the old path's tail behind the new one)
    # and, unlike debugfs, writes the backup superblocks too, so they get
    # the mount time debugfs reset.
    runner.run(['tune2fs', '-M', args['mount_point'], device], env=env)
    if 'metadata_csum' in features:
        # Directory, extent and xattr block checksums cover the inode's
        # generation: turning the feature off and on rewrites them all.
        runner.run(['tune2fs', '-O', '^metadata_csum', device], env=env)
        runner.run(['tune2fs', '-O', 'metadata_csum', device], env=env)
    # Read-only proof that nothing above left the filesystem unsound.
    runner.run(['e2fsck', '-f', '-n', device])


# -- vfat ----------------------------------------------------------------

class Fat:
    """Just enough of a FAT12/16/32 volume to visit its directory
    entries: the boot sector's geometry and the FAT's cluster chains."""

    def __init__(self, fd):
        self.fd = fd
        boot = os.pread(fd, 512, 0)
        (self.sector, self.per_cluster, reserved, fats,
         root_entries) = struct.unpack_from('<HBHBH', boot, 11)
        total = struct.unpack_from('<H', boot, 19)[0] or \
            struct.unpack_from('<I', boot, 32)[0]
        fat_sectors = struct.unpack_from('<H', boot, 22)[0] or \
            struct.unpack_from('<I', boot, 36)[0]
        self.fat_offset = reserved * self.sector
        root_sectors = -(-root_entries * 32 // self.sector)
        self.root_offset = (reserved + fats * fat_sectors) * self.sector
        self.root_size = root_entries * 32
        self.data_sector = reserved + fats * fat_sectors + root_sectors
        clusters = (total - self.data_sector) // self.per_cluster
        self.bits = 12 if clusters < 4085 else 16 if clusters < 65525 \
            else 32
        self.root_cluster = (struct.unpack_from('<I', boot, 44)[0]
                             if self.bits == 32 else None)
        self.volume = struct.unpack_from(
            '<I', boot, 67 if self.bits == 32 else 39)[0]
        self.fat = os.pread(fd, fat_sectors * self.sector, self.fat_offset)

    def volume_id(self):
        """The volume id as blkid shows it: XXXX-XXXX."""
        return '%04X-%04X' % (self.volume >> 16, self.volume & 0xFFFF)

    def next_cluster(self, cluster):
        if self.bits == 12:
            value = struct.unpack_from('<H', self.fat, cluster * 3 // 2)[0]
            value = value >> 4 if cluster & 1 else value & 0xFFF
            return None if value >= 0xFF8 else value
        if self.bits == 16:
            value = struct.unpack_from('<H', self.fat, cluster * 2)[0]
            return None if value >= 0xFFF8 else value
        value = struct.unpack_from('<I', self.fat, cluster * 4)[0] \
            & 0x0FFFFFFF
        return None if value >= 0x0FFFFFF8 else value

    def chain(self, first):
        """Byte ranges (offset, size) of the clusters from *first*."""
        size = self.per_cluster * self.sector
        seen = set()
        cluster = first
        while cluster is not None and cluster >= 2 and cluster not in seen:
            seen.add(cluster)
            yield ((self.data_sector + (cluster - 2) * self.per_cluster)
                   * self.sector, size)
            cluster = self.next_cluster(cluster)

    def root(self):
        if self.bits == 32:
            return list(self.chain(self.root_cluster))
        return [(self.root_offset, self.root_size)]


def fat_stamp(epoch):
    """(time, date) of *epoch* in FAT's format, UTC."""
    tm = time.gmtime(epoch)
    return (tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec // 2,
            max(tm.tm_year - 1980, 0) << 9 | tm.tm_mon << 5 | tm.tm_mday)


def reset_entry(entry, epoch):
    """*entry* (32 bytes) with its creation time reset, or None if it is
    not a file or directory entry."""
    name, attr = entry[0], entry[11]
    if name in (0, 0xE5) or attr == 0x0F or attr & 0x08:
        return None
    out = bytearray(entry)
    if entry[:2] in (b'. ', b'..'):
        stamp, day = fat_stamp(epoch)
        struct.pack_into('<BHHH', out, 13, 0, stamp, day, day)
        struct.pack_into('<HH', out, 22, stamp, day)
    else:
        # Creation := modification; hundredths 0.
        out[13] = 0
        out[14:18] = entry[22:26]
    return bytes(out)


def reset_fat_times(fd, epoch):
    """Reset the creation time of every entry of the volume on *fd*;
    return how many entries were visited."""
    fat = Fat(fd)
    pending = [fat.root()]
    visited = set()
    count = 0
    while pending:
        for offset, size in pending.pop():
            block = bytearray(os.pread(fd, size, offset))
            for start in range(0, size, 32):
                entry = bytes(block[start:start + 32])
                if entry[0] == 0:
                    break
                new = reset_entry(entry, epoch)
                if new is None:
                    continue
                count += 1
                block[start:start + 32] = new
                first = (struct.unpack_from('<H', entry, 20)[0] << 16 |
                         struct.unpack_from('<H', entry, 26)[0])
                if entry[11] & 0x10 and entry[:1] != b'.' and \
                        first not in visited:
                    visited.add(first)
                    pending.append(list(fat.chain(first)))
            os.pwrite(fd, bytes(block), offset)
    os.fsync(fd)
    return count


@resources.releaser('fat-times', tools=resources.UNMOUNT_TOOLS)
def reset_vfat(scope, args):
    target, device, epoch = args['target'], args['device'], args['epoch']

    def shown_uuid():
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return Fat(fd).volume_id()
        finally:
            os.close(fd)
    if not _our_filesystem(scope, args, shown_uuid):
        return
    clamp_tree(target, epoch)
    resources.unmount(scope.runner, target)
    fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    try:
        reset_fat_times(fd, epoch)
    finally:
        os.close(fd)
