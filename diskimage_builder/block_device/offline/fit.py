"""Fit to content (``size: auto``): the smallest filesystem of each type
that holds its part of the tree, with room for what the filesystem itself
needs and the reserve its tool keeps by default.

A filesystem's own needs (journal, inode tables, bitmaps, reserved
blocks, FATs, log) depend on its size in ways each tool decides, so they
are measured, not guessed: an empty filesystem of a candidate size is
made in a sparse scratch file (milliseconds: nothing is written but
metadata), its free space read back as the tool counts it, and the size
moved until the content fits with the least room to spare.  btrfs has
this built in (``mkfs.btrfs --rootdir --shrink``).  What the content needs
in each block size is counted in one walk of the tree
(:mod:`.content`).
"""
import dataclasses
import os
import re

from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.errors import UsageError

MIB = 1 << 20
# Candidate sizes tried before the best fitting one is taken.
TRIALS = 12
# Room kept beyond the counted content: a folder's index blocks, extent
# blocks of fragmented files, attribute blocks.
SLACK_FRACTION = 0.01
SLACK_BYTES = MIB
XFS_MINIMUM = 300 * MIB     # mkfs.xfs (xfsprogs 5.19 and later) refuses less


@dataclasses.dataclass
class Fit:
    size: int                 # bytes of the partition
    opts: tuple = ()          # mkfs options the fit relies on (-N count)
    free: int = 0             # bytes left free for files, as measured


@dataclasses.dataclass
class Room:
    """What an empty filesystem of one size offers."""
    block: int
    free_blocks: int
    free_inodes: int = None


def fit(fstype, scan_, trial, headroom=0, minimum=0, maximum=None,
        where=''):
    """The Fit of a *fstype* filesystem for *scan_*'s content plus
    *headroom* bytes, within *minimum* and *maximum*; *trial* makes and
    measures empty filesystems (:class:`Trials`)."""
    if fstype == 'swap':
        raise UsageError('%s: size auto fits a filesystem to its content; '
                         'swap has none: give its size' % where)
    if fstype == 'btrfs':
        result = Fit(trial.btrfs_shrunk(scan_) + headroom + SLACK_BYTES)
    else:
        result = _search(fstype, scan_, trial, headroom)
    size = max(result.size, minimum)
    if maximum is not None and size > maximum:
        raise UsageError('%s: the content needs %s (%s of files), more than '
                         'max-size %s' % (where, sizes.human(size),
                                          sizes.human(scan_.data_bytes),
                                          sizes.human(maximum)))
    return dataclasses.replace(result, size=size)


def _search(fstype, scan_, trial, headroom):
    """Measure candidate sizes, each where the last one's spare room
    would have been about zero, keeping the smallest that fits."""
    inodes = scan_.entries + 64 + scan_.entries // 10
    floor = XFS_MINIMUM if fstype == 'xfs' else MIB
    content = scan_.data_bytes if fstype != 'vfat' else \
        scan_.apparent_blocks.get(512, 0) * 512
    size = max(_align(int(content * 1.1) + headroom + 8 * MIB), floor)
    opts, low, best = (), floor - MIB, None
    for _ in range(TRIALS):
        room = trial.measure(fstype, size, opts)
        if room.free_inodes is not None and room.free_inodes < inodes \
                and not opts:
            opts = ('-N', str(inodes))      # more than the default ratio
            continue
        spare = room.free_blocks * room.block - headroom - \
            _needs(fstype, scan_, room.block)
        if spare >= 0 and (best is None or size < best.size):
            best = Fit(size, opts, spare + headroom)
        elif spare < 0:
            low = max(low, size)
        target = max(_align(size - spare), low + MIB, floor)
        if best is not None and target >= best.size or target == size:
            break
        size = target
    if best is None:
        raise UsageError('no %s size of up to %s holds %s of files (%d '
                         'trials)' % (fstype, sizes.human(size),
                                      sizes.human(scan_.data_bytes),
                                      TRIALS))
    return best


def _needs(fstype, scan_, block):
    """Bytes *scan_*'s content takes in *fstype* blocks of *block* bytes,
    with the slack."""
    if fstype == 'vfat':
        used = scan_.apparent_blocks.get(block, 0) + \
            scan_.fat_folder_blocks.get(block, 0)
    else:
        used = scan_.data_blocks.get(block, 0) + \
            scan_.ext_folder_blocks.get(block, 0) + scan_.long_symlinks + \
            scan_.xattr_entries
        if fstype == 'xfs':
            # Inodes are allocated in chunks of 64 of 512 bytes.
            used += -(-scan_.entries // 64) * 64 * 512 // block
    return int(used * block * (1 + SLACK_FRACTION)) + SLACK_BYTES


def _align(size):
    return max(-(-size // MIB) * MIB, MIB)


class Trials:
    """Makes empty filesystems in sparse scratch files and reads back
    what they offer."""

    def __init__(self, runner, folder):
        self.runner = runner
        self.folder = folder

    def _scratch(self, size):
        path = os.path.join(self.folder, 'trial.img')
        with open(path, 'wb') as image:
            image.truncate(0)
            image.truncate(size)
        return path

    def measure(self, fstype, size, opts=()):
        path = self._scratch(size)
        try:
            return getattr(self, '_' + fstype.rstrip('234') + '_room')(
                fstype, path, opts)
        finally:
            os.unlink(path)

    def _ext_room(self, fstype, path, opts):
        self.runner.run(['mkfs.%s' % fstype, '-F', '-q', '-E',
                         'lazy_itable_init=1,lazy_journal_init=1,nodiscard',
                         *opts, path])
        head = self.runner.run(['dumpe2fs', '-h', path]).stdout
        field = dict(re.findall(r'^([A-Za-z ]+):\s+(\S+)', head, re.M))
        return Room(int(field['Block size']),
                    int(field['Free blocks']) -
                    int(field['Reserved block count']),
                    int(field['Free inodes']))

    def _vfat_room(self, fstype, path, opts):
        # As the build makes it (filesystems.fat_device_opts): the
        # geometry changes how the total is rounded.
        self.runner.run(['mkfs.vfat', *opts, '-g', '64/63', path])
        env = {'MTOOLS_SKIP_CHECK': '1'}
        info = self.runner.run(['minfo', '-i', path, '::'], env=env).stdout
        cluster = int(re.search(r'cluster size: (\d+)', info).group(1)) * \
            int(re.search(r'sector size: (\d+)', info).group(1))
        listing = self.runner.run(['mdir', '-i', path, '::'], env=env).stdout
        free = int(re.search(r'([\d ]+) bytes free', listing).group(1)
                   .replace(' ', ''))
        return Room(cluster, free // cluster)

    def _xfs_room(self, fstype, path, opts):
        self.runner.run(['mkfs.xfs', '-f', '-q', *opts, path])
        out = self.runner.run(['xfs_db', '-r', '-c', 'sb 0', '-c',
                               'print fdblocks blocksize', path]).stdout
        field = dict(re.findall(r'^(\w+) = (\d+)', out, re.M))
        return Room(int(field['blocksize']), int(field['fdblocks']))

    def btrfs_shrunk(self, scan_):
        """The size mkfs.btrfs shrinks a filesystem of the staged content
        to (the scan knows where it is)."""
        path = self._scratch(2 * scan_.data_bytes + 1024 * MIB)
        try:
            self.runner.run(['mkfs.btrfs', '-f', '-q', '--rootdir',
                             scan_.staged, '--shrink', path])
            return _align(os.stat(path).st_size)
        finally:
            os.unlink(path)
