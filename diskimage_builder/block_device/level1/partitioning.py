"""``partitioning``: an MBR or GPT partition table and its partitions.

The options of the table and of each partition are described in
:data:`PARTITION_SCHEMA` and :attr:`Partitioning.SCHEMA` (and the README's
tables, made from them); where partitions go is :mod:`disklabel.layout`.
The table is built byte for byte in Python (:mod:`tables`), written to the
disk and re-read by the kernel (BLKRRPART); the kernel's own partitions of
the loop device are then used, with no device-mapper.  A partition node
waits for its device node, and creates it from sysfs if no udev does.
"""
import re
import uuid

from diskimage_builder.block_device import disklabel
from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.disklabel import checks
from diskimage_builder.block_device.disklabel import layout
from diskimage_builder.block_device.errors import ConfigError

UUID_PATTERN = ('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                '[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
MBR_ID_PATTERN = '^[0-9a-fA-F]{8}$'

# size: auto, and what may go with it.
AUTO = 'auto'
AUTO_KEYS = ('min-size', 'max-size', 'headroom')

PARTITION_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['name', 'size'],
    'properties': {
        'name': plugin.documented(
            plugin.LOOSE_NAME_SCHEMA, 'Required.  The partition\'s node '
            'name, which its children use as ``base``.'),
        'base': plugin.documented(
            plugin.BASE_SCHEMA, 'May repeat the table\'s ``base``, and '
            'nothing else.'),
        'size': {'type': ['string', 'integer'], 'description':
                 'Required: a size, or ``N%`` of what is left (``sizing`` '
                 'says exactly of what), or ``auto``: the smallest that '
                 'holds the filesystem on it with its part of the tree '
                 '(``build --root`` only).'},
        'min-size': {'type': ['string', 'integer'], 'description':
                     'With ``size: auto``: at least this.'},
        'max-size': {'type': ['string', 'integer'], 'description':
                     'With ``size: auto``: the build fails, before '
                     'writing anything, if the content needs more.'},
        'headroom': {'type': ['string', 'integer'], 'description':
                     'With ``size: auto``: this much free space for files '
                     'beyond the content (default 0).'},
        'flags': {'type': 'array', 'uniqueItems': True,
                  'items': {'enum': ['boot', 'primary']}, 'description':
                  'A list of ``boot`` (the MBR active flag; nothing on '
                  'GPT, as in diskimage-builder: use ``attributes: '
                  '[legacy-boot]``) and ``primary`` (MBR: a primary '
                  'partition; these come first, all others are logical '
                  'partitions).'},
        'type': {'type': 'string', 'description':
                 'MBR: a hex byte such as ``\'83\'`` (default) or '
                 '``\'0x41\'``, not an extended type (``05``, ``0f``, '
                 '``85``) nor ``ee``.  GPT: an sgdisk-style code such as '
                 '``\'8300\'`` (default), ``\'EF00\'``, ``\'EF02\'``, '
                 '``\'8200\'``, ``\'8E00\'``, ``\'FD00\'``, '
                 '``\'4100\'``, or a type GUID.  Quote it in YAML.'},
        'part-name': {'type': 'string', 'description':
                      'The GPT partition name: at most %d UTF-16 code '
                      'units (a character outside the BMP takes two), no '
                      'NUL.  Default: ``name``.' % checks.GPT_NAME_UNITS},
        'part-uuid': {'type': 'string', 'pattern': UUID_PATTERN,
                      'x-expected': 'a GUID '
                      'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx',
                      'description': 'The GPT partition GUID, not all '
                      'zeros.  Default: random, or derived from the seed.'},
        'attributes': {'type': 'array', 'uniqueItems': True, 'items': {
            'anyOf': [{'type': 'integer', 'minimum': 0, 'maximum': 63},
                      {'enum': sorted(disklabel.GPT_ATTRIBUTE_NAMES)}]},
            'description': 'GPT attribute bits: numbers 0 to 63 or %s.'
            % ', '.join('``%s``' % name for name in sorted(
                disklabel.GPT_ATTRIBUTE_NAMES,
                key=disklabel.GPT_ATTRIBUTE_NAMES.get))},
    },
}


class TableNode(plugin.Node):
    """The partition table of one disk."""
    kind = 'table'
    provides = frozenset([plugin.PARTITION_TABLE])
    accepts = (plugin.BLOCK_DEVICE,)

    @property
    def label(self):
        return self.options['label']

    def validate(self, graph, params):
        disk_uuid = self.options.get('disk-uuid')
        if disk_uuid is None:
            return
        where = self.path + '.disk-uuid'
        if self.label == 'gpt' and not re.match(UUID_PATTERN, disk_uuid):
            raise ConfigError(where, 'a GPT disk GUID is '
                              'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, got %r '
                              '(8 hex digits are an MBR disk id)' % disk_uuid)
        if self.label == 'mbr' and not re.match(MBR_ID_PATTERN, disk_uuid):
            raise ConfigError(where, 'an MBR disk id is 8 hex digits, got '
                              '%r (a GUID is for GPT)' % disk_uuid)
        if int(disk_uuid.replace('-', ''), 16) == 0:
            raise ConfigError(where, 'all zeros: %s' % (
                'the nil GUID marks a disk with no GUID' if self.label ==
                'gpt' else 'Linux reads a zero disk id as none'))

    def identifiers(self):
        # Two disks of one id: their PARTUUIDs (MBR) or GUIDs clash.
        disk_uuid = self.options.get('disk-uuid')
        return [('disk id', disk_uuid.lower(), self.path + '.disk-uuid')] \
            if disk_uuid else []

    def requests(self):
        return [layout.Request(p['name'], _size_value(p),
                               'primary' in p.get('flags', []))
                for p in self.options['partitions']]

    def plan(self, pctx):
        _check_no_auto(self)
        disk = pctx.of(self.deps[0])
        if disk.size is None:
            return
        align = sizes.parse_size_at(self.options.get('align', '1MiB'),
                                    self.path + '.align')
        try:
            placed = layout.place(self.label, disk.size, disk.sector_size,
                                  align, self.requests(),
                                  self.options.get('sizing', 'dib'))
        except layout.LayoutError as err:
            where = (self.path if err.index is None else
                     '%s.partitions[%d]' % (self.path, err.index))
            raise ConfigError(where, str(err))
        extended = placed.extended
        pctx.set(self, sector_size=disk.sector_size, details={
            'disk_size': disk.size,
            'partitions': [vars(p) for p in placed.partitions],
            'extended': extended and [extended.first_lba, extended.last_lba,
                                      extended.type_byte]})
        for part in placed.partitions:
            pctx.set(pctx.nodes[part.name],
                     size=part.size_lba * disk.sector_size,
                     sector_size=disk.sector_size, zeroed=disk.zeroed,
                     details={'start': part.first_lba * disk.sector_size,
                              'first_lba': part.first_lba,
                              'last_lba': part.last_lba,
                              'number': part.number})

    needs_kernel = None

    def offline(self, octx):
        planned = octx.plan_of(self.name)
        writes, idents = disklabel.table_writes(
            self.label, self.name, self.options, planned, octx.repro)
        region = octx.region(self.deps[0])
        octx.write_at(region, writes)
        octx.set_region(self, region)
        octx.record(self, **idents)

    def create(self, ctx):
        device = ctx.device(self.deps[0])
        planned = ctx.plan_of(self.name)
        writes, idents = disklabel.table_writes(
            self.label, self.name, self.options, planned, ctx.repro)
        ctx.say('writing a %s table with %d partitions to %s', self.label,
                len(planned.details['partitions']), device)
        # The kernel drops the partitions it knew and registers those of
        # the new table (the loop device was attached with --partscan).
        ctx.write_blocks(device, writes, reread=True)
        numbers = [p['number'] for p in planned.details['partitions']]
        ctx.run(partx_argv(numbers, device),
                when='the kernel registers no partition on re-reading the '
                     'table, as a kernel without the %s parser does'
                     % self.label,
                needed=lambda: not all(ctx.host.partition_name(device, n)
                                       for n in numbers))
        ctx.record(self, device=device, **idents)


def partx_argv(numbers, device):
    # A kernel built without this table's parser (this project's CI host
    # has neither msdos nor efi partition support) registers nothing on
    # re-read: partx parses the table in user space and hands the kernel
    # each partition (BLKPG).  The explicit range matters: without it
    # partx stops counting at the number of table entries and misses the
    # last logical partition.
    return ['partx', '--update', '--nr', '1:%d' % max(numbers), device]


def _size_value(options):
    size = options['size']
    return size if sizes.is_percent(size) else sizes.parse_size(size)


def _check_no_auto(table):
    for index, part in enumerate(table.options['partitions']):
        if part['size'] == AUTO:
            raise ConfigError('%s.partitions[%d].size' % (table.path, index),
                              'auto is worked out from the tree the image '
                              'is built from: only build --root fills it in')


class PartitionNode(plugin.Node):
    """One partition: waits for its device node and records it."""
    kind = 'partition'
    provides = frozenset([plugin.BLOCK_DEVICE, plugin.PARTITION])
    accepts = (plugin.PARTITION_TABLE,)

    def validate(self, graph, params):
        table = graph[self.deps[0]]
        base = self.options.get('base')
        if base is not None and base != table.deps[0]:
            raise ConfigError(self.path + '.base', 'a partition lives on '
                              'its table\'s disk %r, not %r'
                              % (table.deps[0], base))
        self._refuse('.type', checks.type_problem(table.label, self.options))
        self._refuse('', checks.number_problem(table.label,
                                               self.facts['number']))
        if table.label == 'mbr':
            for key in ('part-name', 'part-uuid', 'attributes'):
                if key in self.options:
                    raise ConfigError(self.path + '.' + key, 'is a GPT '
                                      'option; this table is mbr')
        else:
            key = 'part-name' if 'part-name' in self.options else 'name'
            self._refuse('.' + key, checks.gpt_name_problem(
                self.options[key], key == 'name'))
            part_uuid = self.options.get('part-uuid')
            if part_uuid is not None and uuid.UUID(part_uuid).int == 0:
                raise ConfigError(self.path + '.part-uuid', 'the nil GUID '
                                  'is no partition GUID')
        size = self.options['size']
        self._check_auto(size == AUTO)
        if size == AUTO:
            return
        if not sizes.is_percent(size):
            sizes.parse_size_at(size, self.path + '.size')
        elif isinstance(size, str) and size.strip().endswith('%'):
            try:
                sizes.parse_percent(size)
            except sizes.SizeError as err:
                raise ConfigError(self.path + '.size', str(err))

    def _check_auto(self, auto):
        for key in AUTO_KEYS:
            if key in self.options:
                if not auto:
                    raise ConfigError(self.path + '.' + key, 'goes with '
                                      'size: auto only')
                sizes.parse_size_at(self.options[key],
                                    '%s.%s' % (self.path, key))

    def _refuse(self, key, problem):
        if problem:
            raise ConfigError(self.path + key, problem)

    def identifiers(self):
        part_uuid = self.options.get('part-uuid')
        return [('PARTUUID', part_uuid.lower(), self.path + '.part-uuid')] \
            if part_uuid else []

    needs_kernel = None

    def offline(self, octx):
        table = self.deps[0]
        planned = octx.plan_of(self.name)
        octx.set_region(self, octx.sub_region(
            table, planned.details['start'], planned.size))
        number = self.facts['number']
        octx.record(self, number=number, partuuid=octx.results(table)[
            'partuuids'][str(number)])

    def create(self, ctx):
        table = self.deps[0]
        disk = ctx.device(table)
        number = self.facts['number']
        # The kernel registers partitions during BLKRRPART, but a device
        # being opened elsewhere can delay it.
        name = ctx.host.poll(lambda: ctx.host.partition_name(disk, number),
                             10.0, 'partition %d of %s' % (number, disk))
        device = ctx.host.wait_for_node(
            name, on_create=lambda path, devnum: ctx.hold(
                self, 'device-node', path=path, devnum=devnum))
        partuuid = ctx.results(table)['partuuids'][str(number)]
        ctx.record(self, device=device, number=number, partuuid=partuuid)


class Partitioning(plugin.Plugin):
    SCHEMA = {
        'description': 'An MBR or GPT partition table on ``base``, and its '
                       'partitions.',
        'type': 'object',
        'additionalProperties': False,
        'required': ['base', 'label', 'partitions'],
        'properties': {
            'name': plugin.documented(
                plugin.LOOSE_NAME_SCHEMA, 'Accepted, as diskimage-builder '
                'accepts it; not a node other entries can use.'),
            'base': plugin.documented(
                plugin.BASE_SCHEMA, 'The disk the table is written to: '
                'required.'),
            'label': {'enum': ['mbr', 'gpt'], 'description':
                      'Required: ``mbr`` or ``gpt``.'},
            'align': {'type': ['string', 'integer'], 'description':
                      'Every partition starts on a multiple of this: a '
                      'power of two of at least 512 bytes.  Default '
                      '``1MiB``.'},
            'sizing': {'enum': list(layout.RULES), 'description':
                       'Where partitions go: ``dib`` (default; '
                       'diskimage-builder\'s rules) or ``exact`` (sizes as '
                       'written, percentages that use the whole disk).'},
            'disk-uuid': {'type': 'string', 'pattern':
                          UUID_PATTERN + '|^[0-9a-fA-F]{8}$',
                          'x-expected': 'a GUID for gpt, 8 hex digits '
                          'for mbr',
                          'description': 'GPT: the disk GUID; MBR: the '
                          'disk identifier, 8 hex digits.  Not all zeros.  '
                          'Default: random, or derived from the seed.'},
            'partitions': {'type': 'array', 'minItems': 1,
                           'items': PARTITION_SCHEMA, 'description':
                           'Required: the partitions in disk order, at '
                           'least one.'},
        },
    }
    NESTED_ITEMS = ('partitions',)
    NODE_TYPES = (TableNode, PartitionNode)

    @classmethod
    def default_name(cls, plugin_name, options):
        return None

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        base = options['base']
        if 'align' in options:
            align = sizes.parse_size_at(options['align'], path + '.align')
            if align < 512 or align & (align - 1):
                raise ConfigError(path + '.align', 'expected a power of two '
                                  'of at least 512 bytes, got %d' % align)
        table = TableNode(plugin_name, 'table:' + base, path, [base],
                          options, {'label': options['label']})
        nodes = [table]
        numbers = _numbers(options)
        for index, part in enumerate(options['partitions']):
            nodes.append(PartitionNode(
                plugin_name, part['name'], '%s.partitions[%d]' % (path, index),
                [table.name], part, {'number': numbers[index],
                                     'table': options['label']}))
        return nodes


def _numbers(options):
    """Partition numbers as Linux gives them: logical MBR ones from 5."""
    if options['label'] == 'gpt':
        return list(range(1, len(options['partitions']) + 1))
    numbers, primary, logical = [], 1, 5
    for part in options['partitions']:
        if 'primary' in part.get('flags', []):
            numbers.append(primary)
            primary += 1
        else:
            numbers.append(logical)
            logical += 1
    return numbers
