"""``mkfs``: a filesystem (or swap area) on a block device.

Its options (and what ``mkfs_root`` takes from the params) are described
in :attr:`Mkfs.SCHEMA` and the README's table made from it; the lists
there (types, label limits, minimum sizes) are read from
:data:`FILESYSTEMS`, where what each filesystem needs is one row.
"""
import dataclasses
import re
import string
import uuid

from diskimage_builder.block_device import cmdopts
from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.errors import ConfigError

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
                   value_options=EXT_VALUES, device_suboptions=('device',)),
    'ext3': FsType('mkfs.ext3', 16, ('-L', '{}'), ('-U', '{}'),
                   ('-F', '-q'), zeroed_args=EXT_ZEROED,
                   value_options=EXT_VALUES, device_suboptions=('device',)),
    'ext4': FsType('mkfs.ext4', 16, ('-L', '{}'), ('-U', '{}'),
                   ('-F', '-q'), zeroed_args=EXT_ZEROED,
                   value_options=EXT_VALUES, device_suboptions=('device',)),
    # -d name=, -l logdev=, -r rtdev= put sections on other devices.
    'xfs': FsType('mkfs.xfs', 12, ('-L', '{}'),
                  ('-m', 'uuid={}'), ('-f', '-q'), 300 << 20, ('-K',),
                  value_options='bcdilLmnprs',
                  device_suboptions=('name', 'logdev', 'rtdev')),
    # vfat volume ids are 32 bits, written XXXX-XXXX as blkid shows them.
    'vfat': FsType('mkfs.vfat', 11, ('-n', '{}'), ('-i', '{}'),
                   (), uuid_pattern='^[0-9a-fA-F]{4}-[0-9a-fA-F]{4}$',
                   value_options='bfDFgilmMnrRsSh',
                   long_value_options=FAT_LONG_VALUES),
    # Every operand of mkfs.btrfs is one more device of the filesystem.
    'btrfs': FsType('mkfs.btrfs', 255, ('-L', '{}'),
                    ('-U', '{}'), ('-f', '-q'), 114294784, ('-K',),
                    value_options='AbdlLmnOrRsU',
                    long_value_options=BTRFS_LONG_VALUES),
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
              zeroed=False):
    """The command that makes *fstype* on *device*: pure, tested by value."""
    fs = FILESYSTEMS[fstype]
    argv = [fs.tool, *fs.force_args]
    if zeroed:
        argv += fs.zeroed_args
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


class MkfsNode(plugin.Node):
    kind = 'mkfs'
    provides = frozenset([plugin.FILESYSTEM])
    accepts = (plugin.BLOCK_DEVICE,)

    @property
    def fstype(self):
        return self.facts['fstype']

    def validate(self, graph, params):
        label = self.facts['label']
        where = self.facts.get('label_from') or self.path + '.label'
        problem = label_problem(self.fstype, label)
        if problem:
            raise ConfigError(where, problem)
        fs_uuid = self.options.get('uuid')
        if fs_uuid is not None:
            if not re.match(FILESYSTEMS[self.fstype].uuid_pattern, fs_uuid):
                raise ConfigError(self.path + '.uuid', 'not a valid %s '
                                  'uuid: %r' % (self.fstype, fs_uuid))
        for other in plugin.earlier(graph, self):
            if plugin.FILESYSTEM in other.provides and \
                    other.facts.get('label') == label:
                raise ConfigError(self.path + '.label', 'label %r is also '
                                  'used by %s (%s)' % (label, other.name,
                                                       other.path))

    def identifiers(self):
        # /dev/disk/by-uuid and UUID= in fstab name one filesystem each.
        fs_uuid = self.options.get('uuid')
        return [('filesystem UUID', fs_uuid.lower(), self.path + '.uuid')] \
            if fs_uuid else []

    def plan(self, pctx):
        base = pctx.of(self.deps[0])
        if base.size is not None and \
                base.size < FILESYSTEMS[self.fstype].min_size:
            raise ConfigError(self.path, '%s needs at least %s; %s is %s'
                              % (self.fstype, sizes.human(
                                  FILESYSTEMS[self.fstype].min_size),
                                 self.deps[0], sizes.human(base.size)))
        pctx.set(self, size=base.size, zeroed=base.zeroed)

    def fs_uuid(self, repro):
        """The configured UUID; derived from the seed when there is one;
        else None and the tool picks."""
        if self.options.get('uuid') or not repro.seeded:
            return self.options.get('uuid')
        value = repro.uuid(self.name, 'filesystem')
        if self.fstype == 'vfat':
            return '%s-%s' % (value.hex[:4].upper(), value.hex[4:8].upper())
        return str(value)

    def argv(self, device, repro, zeroed=False, fs_uuid=None):
        opts = list(self.facts['opts'])
        if repro.seeded and self.fstype in SEEDED_ARGS:
            opts = SEEDED_ARGS[self.fstype](repro, self.name) + opts
        return mkfs_argv(self.fstype, device, self.facts['label'],
                         fs_uuid or self.fs_uuid(repro), opts, zeroed)

    needs_kernel = None

    def offline(self, octx):
        # Chosen now, from the seed when there is one: the fstab that goes
        # into the root filesystem names it before any is made.
        fs_uuid = self.fs_uuid(octx.repro) or random_uuid(self.fstype)
        octx.record(self, fstype=self.fstype, uuid=fs_uuid,
                    label=self.facts['label'])
        octx.fill(self, octx.region(self.deps[0]), fs_uuid)

    def create(self, ctx):
        device = ctx.device(self.deps[0])
        zeroed = ctx.plan_of(self.name).zeroed
        # e2fsprogs reads its clock from the epoch: two builds' superblock
        # times are the same.
        ctx.run(self.argv(device, ctx.repro, zeroed), env=ctx.repro.env())
        probed = probe(ctx.run(probe_argv(device)).stdout)
        ctx.record(self, device=device,
                   fstype=probed.get('TYPE', self.fstype),
                   uuid=probed.get('UUID', ''),
                   label=probed.get('LABEL', self.facts['label']))


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


def _label(options, fstype, params, is_root):
    """The label as diskimage-builder gives it: the configured one; for
    mkfs_root the params root-label, and when the image builder wrote that
    key empty, cloudimg-rootfs (img-rootfs on xfs, whose labels hold 12
    characters); else the node name.  vfat labels are upper-cased: that
    is how FAT stores them, and the fstab line must say the same."""
    label = options.get('label')
    if label is None and is_root and 'root-label' in params:
        label = params['root-label'] or (
            'img-rootfs' if fstype == 'xfs' else 'cloudimg-rootfs')
    if label is None:
        label = options['name']
    return label.upper() if fstype == 'vfat' else label


def _opts(options, params, is_root, path, fstype):
    opts, where = options.get('opts'), path + '.opts'
    if opts is None and is_root:
        opts, where = params.get('root-fs-opts'), 'params.root-fs-opts'
    words = cmdopts.split(opts, where)
    check_opts(fstype, words, where, isinstance(opts, list))
    return words


def check_opts(fstype, words, where, listed=False):
    """Extra mkfs arguments are options for the one filesystem on base:
    no operand (mkfs.btrfs takes every operand as one more device of the
    filesystem, mke2fs and mkswap one as the size, mkfs.vfat as the block
    count) and no sub-option putting part of it on another device."""
    fs = FILESYSTEMS[fstype]
    syntax = cmdopts.Syntax(fs.tool, fs.value_options,
                            frozenset(fs.long_value_options))
    options = cmdopts.check_no_operands(
        words, syntax, where, listed,
        'mkfs gets its one device from base, and its size is the device\'s')
    for index, name, value in options:
        for item in (value or '').split(','):
            key = item.split('=', 1)[0].strip()
            if '=' in item and key in fs.device_suboptions:
                raise ConfigError(
                    cmdopts.where_of(where, listed, index),
                    '%s %s names another device (%s=): %s would write '
                    'there; the filesystem must stay on its base'
                    % (name, value, key, fs.tool))


def probe_argv(device):
    return ['blkid', '-p', '-o', 'export', device]


def probe(output):
    """What the filesystem itself says: blkid's low-level probe
    (``blkid -p -o export``) as {key: value}."""
    return dict(line.split('=', 1) for line in output.splitlines()
                if '=' in line)


class Mkfs(plugin.Plugin):
    SCHEMA = {
        'description': 'A filesystem or swap area on ``base``.',
        'type': 'object',
        'additionalProperties': False,
        'required': ['base', 'name'],
        'properties': {
            'name': plugin.documented(
                plugin.LOOSE_NAME_SCHEMA, 'Default ``mkfs_<base>``.  The '
                'node named ``mkfs_root`` takes ``type``, ``label`` and '
                '``opts`` it lacks from the params ``root-fs-type``, '
                '``root-label`` and ``root-fs-opts``.'),
            'base': plugin.documented(
                plugin.BASE_SCHEMA, 'The block device: a partition, image, '
                'disk, LV, LUKS mapping or md array.'),
            'type': {'enum': sorted(FILESYSTEMS), 'description':
                     'One of %s.  Required, but ``mkfs_root`` defaults to '
                     'params ``root-fs-type``.  A device smaller than the '
                     'tool takes is refused (%s).' % (
                         ', '.join('``%s``' % name
                                   for name in sorted(FILESYSTEMS)),
                         ', '.join('%s %s' % (name, sizes.human(fs.min_size))
                                   for name, fs in FILESYSTEMS.items()
                                   if fs.min_size > 1 << 20))},
            'label': plugin.documented(LABEL_SCHEMA, LABEL_DESCRIPTION),
            'uuid': {'type': 'string', 'description':
                     'The filesystem UUID (vfat: its volume id, '
                     '``XXXX-XXXX``), unique.  Default: random, or derived '
                     'from the seed.'},
            'opts': {'anyOf': [{'type': 'string'}, {
                'type': 'array', 'items': {'type': 'string'}}],
                'x-expected': 'extra mkfs options, a string (split as a '
                              'shell would) or a list: options only, no '
                              'device or size operand, no other device',
                'description': 'Extra mkfs options, a string (split as a '
                               'shell would: quotes work) or a list.  '
                               'Options only: no device or size operand, '
                               'and none putting part of the filesystem '
                               'on another device (``-J device=``, ``-l '
                               'logdev=``, ``-r rtdev=``, ``-d name=``).'},
        },
    }
    NODE_TYPES = (MkfsNode,)

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        is_root = options['name'] == 'mkfs_root'
        fstype = options.get('type')
        if fstype is None and is_root:
            fstype = params.get('root-fs-type')
            if fstype not in FILESYSTEMS:
                raise ConfigError(path + '.type', 'no type here and params '
                                  'root-fs-type is %r; expected one of %s'
                                  % (fstype, ', '.join(sorted(FILESYSTEMS))))
        if fstype is None:
            raise ConfigError(path + '.type', 'is required but missing '
                              '(one of %s)' % ', '.join(sorted(FILESYSTEMS)))
        label = _label(options, fstype, params, is_root)
        facts = {'fstype': fstype, 'label': label,
                 'opts': _opts(options, params, is_root, path, fstype)}
        if 'label' not in options and is_root and params.get('root-label'):
            facts['label_from'] = 'params.root-label'
        return [MkfsNode(plugin_name, options['name'], path,
                         [options['base']], options, facts)]
