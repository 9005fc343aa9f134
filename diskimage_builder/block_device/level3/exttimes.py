"""Same bytes from two builds of an ext filesystem, with SOURCE_DATE_EPOCH.

mkfs is already reproducible when seeded (UUID, hash seed, its clock from
``E2FSPROGS_FAKE_TIME``).  What differs afterwards is what the kernel
writes while the filesystem is mounted: inode change and creation times,
file times newer than the epoch (files the build itself wrote), the mount
time, count and path in the superblock, the journal's transactions and,
on ext4, which inode tables the background initialiser zeroed.  So, in a
build with SOURCE_DATE_EPOCH:

* ext4 is mounted with ``noinit_itable`` (no background initialiser);
* at umount, before unmounting: every file time newer than the epoch is
  clamped to it and the inode numbers are listed;
* after unmounting: the journal is made again and the last mount point
  set to the image's own (``tune2fs``), and ``debugfs`` sets each listed
  inode's change and creation times to the epoch, its generation to 0,
  and resets the superblock's mount time, count and write counter; with
  ``metadata_csum`` the checksums are then rewritten, and ``e2fsck -n``
  checks the result.

The journal entry ``ext-times`` is held right after the mount, so teardown
runs it (it unmounts itself) before the plain ``mount`` entry, which then
finds nothing left to do.
"""
import os

from diskimage_builder.block_device import resources
from diskimage_builder.block_device import sysfs

EXT_TYPES = ('ext2', 'ext3', 'ext4')


def source_date_epoch():
    value = os.environ.get('SOURCE_DATE_EPOCH', '')
    return int(value) if value.isdigit() else None


def mount_options(fstype):
    """Extra ``mount -o`` options for *fstype* in this build."""
    if fstype == 'ext4' and source_date_epoch() is not None:
        return ['noinit_itable']
    return []


def wanted(fstype):
    return fstype in EXT_TYPES and source_date_epoch() is not None


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
    Generation numbers are random per new inode; mkfs gives its own 0."""
    lines = []
    fields = [('ctime', '@%d' % epoch), ('generation', '0')]
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


@resources.releaser('ext-times')
def reset_times(runner, args):
    target, device, epoch = args['target'], args['device'], args['epoch']
    if not sysfs.is_mount_point(target):
        # Unmounted already (killed in between): the times stay as they
        # are; teardown itself has nothing left to do.
        return
    inodes = clamp_tree(target, epoch)
    resources.release_mount(runner, {'target': target})
    env = {'E2FSPROGS_FAKE_TIME': str(epoch)}
    info = superblock(runner, device)
    features = info.get('Filesystem features', '').split()
    if 'has_journal' in features:
        # Its transactions carry commit times and sequence numbers.
        runner.run(['tune2fs', '-O', '^has_journal', device], env=env)
        runner.run(['tune2fs', '-O', 'has_journal', device], env=env)
    # The kernel wrote the build's mount path; tune2fs clears the whole
    # field (debugfs would leave the old path's tail behind the new one).
    runner.run(['tune2fs', '-M', args['mount_point'], device], env=env)
    runner.run(['debugfs', '-w', '-f', '-', device], env=env,
               stdin=debugfs_script(inodes, epoch,
                                    int(info.get('Inode size', '128'))))
    if 'metadata_csum' in features:
        # Directory, extent and xattr block checksums cover the inode's
        # generation: turning the feature off and on rewrites them all.
        runner.run(['tune2fs', '-O', '^metadata_csum', device], env=env)
        runner.run(['tune2fs', '-O', 'metadata_csum', device], env=env)
    # Read-only proof that nothing above left the filesystem unsound.
    runner.run(['e2fsck', '-f', '-n', device])
