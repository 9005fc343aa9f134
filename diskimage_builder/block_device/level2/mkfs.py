"""``mkfs``: a filesystem (or swap area) on a block device.

Its options (and what ``mkfs_root`` takes from the params) are described
in :attr:`Mkfs.SCHEMA` and the README's table made from it; the lists
there (types, label limits, minimum sizes) are read from
:data:`FILESYSTEMS`, where what each filesystem needs is one row.
"""
import re

from diskimage_builder.block_device import cmdopts
from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.level2.fstypes import (  # noqa: F401
    FsType, FILESYSTEMS, EXT_ZEROED, SEEDED_ARGS, LABEL_SCHEMA,
    LABEL_DESCRIPTION, LABEL_CHARS, LABEL_PUNCTUATION, FAT_LABEL_FORBIDDEN,
    mkfs_argv, merge_extended, random_uuid, label_problem, probe_argv, probe)


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

    def argv(self, device, repro, zeroed=False, fs_uuid=None, sector=None):
        opts = list(self.facts['opts'])
        if repro.seeded and self.fstype in SEEDED_ARGS:
            opts = SEEDED_ARGS[self.fstype](repro, self.name) + opts
        return mkfs_argv(self.fstype, device, self.facts['label'],
                         fs_uuid or self.fs_uuid(repro), opts, zeroed,
                         sector)

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
        planned = ctx.plan_of(self.name)
        # The sectors it is read with at boot (a dm-verity device's data
        # blocks), when larger than those of the device it is made on.
        boot = planned.details.get('boot_sector')
        sector = boot if boot and boot > planned.sector_size else None
        # e2fsprogs reads its clock from the epoch: two builds' superblock
        # times are the same.
        ctx.run(self.argv(device, ctx.repro, planned.zeroed, sector=sector),
                env=ctx.repro.env())
        probed = probe(ctx.run(probe_argv(device)).stdout)
        ctx.record(self, device=device,
                   fstype=probed.get('TYPE', self.fstype),
                   uuid=probed.get('UUID', ''),
                   label=probed.get('LABEL', self.facts['label']))


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
