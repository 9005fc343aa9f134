"""What each filesystem type needs, one row each (:data:`FILESYSTEMS`):
its tool, label and UUID arguments and limits, how the tool reads its
options; and the commands built from it."""
import dataclasses
import string
import uuid

# Labels are checked in one place (label_problem), whether they come from
# the config, the params or a node name.
LABEL_SCHEMA = {'type': 'string', 'minLength': 1}
LABEL_PUNCTUATION = '_ . + : @ -'.split()
LABEL_CHARS = frozenset(string.ascii_letters + string.digits + ' ' +
                        ''.join(LABEL_PUNCTUATION))
# Characters FAT does not allow in a volume label (as in a short name).
FAT_LABEL_FORBIDDEN = frozenset('*?.,;:/\\|+=<>[]"')


@dataclasses.dataclass(frozen=True)
class FsType:
    tool: str
    label_max: int
    label_args: tuple      # with {} for the label
    uuid_args: tuple       # with {} for the uuid
    force_args: tuple = ()
    min_size: int = 1 << 20   # the tool refuses smaller devices
    # On a device known to read as zeros (a new sparse image) there is
    # nothing to discard or zero: skipping it keeps a 1 TiB image as cheap
    # to make, and as small on disk, as a 1 GiB one.
    zeroed_args: tuple = ()
    uuid_pattern: str = ('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                         '[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
    # How the tool reads opts (see cmdopts): its options that take a value
    # in the next word, short and long.
    value_options: str = ''
    long_value_options: tuple = ()
    # Sub-options (in -x key=value,...) that name another device the
    # tool would write to: an external journal or log, a data section.
    device_suboptions: tuple = ()
    # The smallest unit the filesystem reads and writes, set (with {})
    # when the device it is made on shows smaller sectors than the one
    # it is read from at boot (a dm-verity device has sectors of its
    # data block size): the tools pick theirs from the device they see.
    sector_args: tuple = ()


EXT_ZEROED = ('-E', 'lazy_itable_init=1,lazy_journal_init=1,nodiscard')
# The getopt strings of the tools (e2fsprogs 1.47 mke2fs
# "b:cd:e:g:i:jl:m:no:qr:s:t:vC:DE:FG:I:J:KL:M:N:O:R:ST:U:Vz:", xfsprogs
# 6.1 "b:c:d:i:l:L:m:n:KNp:qr:s:CfV", dosfstools 4.2
# "aAb:cCf:D:F:g:Ii:l:m:M:n:r:R:s:S:h:v", btrfs-progs 6.2
# "A:b:fl:n:s:m:d:L:R:O:r:U:VvMKq", util-linux mkswap), letters with a
# value only; long options as their --help lists them, newer ones added
# where they take a value too.
EXT_VALUES = 'bdegilmorstCEGIJLMNORTUz'
FAT_LONG_VALUES = ('codepage', 'variant', 'offset')
BTRFS_LONG_VALUES = ('alloc-start', 'byte-count', 'checksum', 'compress',
                     'csum', 'data', 'device-uuid', 'features',
                     'inode-flags', 'label', 'leafsize', 'metadata',
                     'nodesize', 'rootdir', 'runtime-features', 'sectorsize',
                     'subvol', 'uuid')
SWAP_LONG_VALUES = ('endianness', 'label', 'offset', 'pagesize', 'size',
                    'swapversion', 'uuid')

FILESYSTEMS = {
    'ext2': FsType('mkfs.ext2', 16, ('-L', '{}'), ('-U', '{}'),
                   ('-F', '-q'), zeroed_args=EXT_ZEROED,
                   value_options=EXT_VALUES, device_suboptions=('device',),
                   sector_args=('-b', '{}')),
    'ext3': FsType('mkfs.ext3', 16, ('-L', '{}'), ('-U', '{}'),
                   ('-F', '-q'), zeroed_args=EXT_ZEROED,
                   value_options=EXT_VALUES, device_suboptions=('device',),
                   sector_args=('-b', '{}')),
    'ext4': FsType('mkfs.ext4', 16, ('-L', '{}'), ('-U', '{}'),
                   ('-F', '-q'), zeroed_args=EXT_ZEROED,
                   value_options=EXT_VALUES, device_suboptions=('device',),
                   sector_args=('-b', '{}')),
    # -d name=, -l logdev=, -r rtdev= put sections on other devices.
    'xfs': FsType('mkfs.xfs', 12, ('-L', '{}'),
                  ('-m', 'uuid={}'), ('-f', '-q'), 300 << 20, ('-K',),
                  value_options='bcdilLmnprs',
                  device_suboptions=('name', 'logdev', 'rtdev'),
                  sector_args=('-s', 'size={}')),
    # vfat volume ids are 32 bits, written XXXX-XXXX as blkid shows them.
    'vfat': FsType('mkfs.vfat', 11, ('-n', '{}'), ('-i', '{}'),
                   (), uuid_pattern='^[0-9a-fA-F]{4}-[0-9a-fA-F]{4}$',
                   value_options='bfDFgilmMnrRsSh',
                   long_value_options=FAT_LONG_VALUES,
                   sector_args=('-S', '{}')),
    # Every operand of mkfs.btrfs is one more device of the filesystem.
    'btrfs': FsType('mkfs.btrfs', 255, ('-L', '{}'),
                    ('-U', '{}'), ('-f', '-q'), 114294784, ('-K',),
                    value_options='AbdlLmnOrRsU',
                    long_value_options=BTRFS_LONG_VALUES,
                    sector_args=('--sectorsize', '{}')),
    'swap': FsType('mkswap', 15, ('-L', '{}'), ('-U', '{}'),
                   ('-f',), value_options='eLopsUv',
                   long_value_options=SWAP_LONG_VALUES),
}


def _label_limits():
    """'16 (ext2, ext3, ext4), 12 (xfs)...' from :data:`FILESYSTEMS`."""
    limits = {}
    for name, fs in FILESYSTEMS.items():
        limits.setdefault(fs.label_max, []).append(name)
    return ', '.join('%d (%s)' % (limit, ', '.join(names))
                     for limit, names in limits.items())


LABEL_DESCRIPTION = (
    'Default: the node name (``mkfs_root``: params ``root-label``).  '
    'Unique; letters, digits, spaces (not at either end) and ``%s``; at '
    'most %s characters.  vfat labels are upper-cased, as FAT stores them '
    '(``mkfs_ESP`` gives ``MKFS_ESP``, in fstab too), and hold none of '
    '``%s``.' % (' '.join(LABEL_PUNCTUATION), _label_limits(),
                 ' '.join(sorted(FAT_LABEL_FORBIDDEN))))


# What else makes a filesystem differ between two builds, when seeded.
SEEDED_ARGS = {
    # ext directories hash names with a random seed unless given one.
    'ext2': lambda repro, node: ['-E', 'hash_seed=%s'
                                 % repro.uuid(node, 'hash')],
    'ext3': lambda repro, node: ['-E', 'hash_seed=%s'
                                 % repro.uuid(node, 'hash')],
    'ext4': lambda repro, node: ['-E', 'hash_seed=%s'
                                 % repro.uuid(node, 'hash')],
    # mkfs.vfat otherwise puts the clock and a random boot code id in.
    'vfat': lambda repro, node: ['--invariant'],
}


def mkfs_argv(fstype, device, label=None, fs_uuid=None, opts=(),
              zeroed=False, sector=None):
    """The command that makes *fstype* on *device*: pure, tested by value.
    *sector*: the sector size it is read with at boot, when larger than
    *device*'s."""
    fs = FILESYSTEMS[fstype]
    argv = [fs.tool, *fs.force_args]
    if zeroed:
        argv += fs.zeroed_args
    if sector:
        argv += [arg.format(sector) for arg in fs.sector_args]
    if label:
        argv += [arg.format(label) for arg in fs.label_args]
    if fs_uuid:
        value = fs_uuid.replace('-', '') if fstype == 'vfat' else fs_uuid
        argv += [arg.format(value) for arg in fs.uuid_args]
    argv += list(opts)
    if fs.tool.startswith('mkfs.ext'):
        argv = merge_extended(argv)
    return argv + [device]


def merge_extended(argv):
    """*argv* with its ``-E`` options joined into one, where the first
    was: mke2fs keeps only the last ``-E`` it is given, so a seeded
    hash_seed would drop the options for a zeroed device, and an ``-E`` in
    the config both.  A later value of one key still wins, as within one
    ``-E``."""
    values, rest, first, index = [], [], None, 0
    while index < len(argv):
        arg = argv[index]
        if arg == '-E' and index + 1 < len(argv):
            value, index = argv[index + 1], index + 2
        elif arg.startswith('-E') and len(arg) > 2:
            value, index = arg[2:], index + 1
        else:
            rest.append(arg)
            index += 1
            continue
        first = len(rest) if first is None else first
        values.append(value)
    if first is None:
        return rest
    return rest[:first] + ['-E', ','.join(values)] + rest[first:]


def random_uuid(fstype):
    """A random filesystem identity in the form *fstype* takes (a FAT
    volume id is 8 hex digits)."""
    value = uuid.uuid4()
    if fstype == 'vfat':
        return '%s-%s' % (value.hex[:4].upper(), value.hex[4:8].upper())
    return str(value)


def label_problem(fstype, label):
    """What is wrong with *label* on *fstype*, or None.  Labels end up in
    fstab, in /dev/disk/by-label, on kernel command lines and in the
    image builder's shell variables: letters, digits, space and
    ``_ . + : @ -`` only, within the filesystem's limit."""
    fs = FILESYSTEMS[fstype]
    if not label or not LABEL_CHARS.issuperset(label) or \
            label != label.strip():
        return ('label %r: expected letters, digits, spaces (not at either '
                'end) and _ . + : @ -' % (label,))
    if len(label) > fs.label_max:
        return ('label %r is %d characters; %s allows at most %d'
                % (label, len(label), fstype, fs.label_max))
    if fstype == 'vfat' and FAT_LABEL_FORBIDDEN.intersection(label):
        return ('label %r: FAT labels cannot hold any of %s'
                % (label, ' '.join(sorted(FAT_LABEL_FORBIDDEN))))
    return None


def probe_argv(device):
    return ['blkid', '-p', '-o', 'export', device]


def probe(output):
    """What the filesystem itself says: blkid's low-level probe
    (``blkid -p -o export``) as {key: value}."""
    return dict(line.split('=', 1) for line in output.splitlines()
                if '=' in line)
