"""``existing``: build straight onto a disk the host already has.

Its options (the five ways to name the disk, ``wipe``) are described in
:attr:`Existing.SCHEMA` and the README's table made from it.  It stands
in for ``local_loop``: partitioning, lvm, crypt, mdraid and mkfs take it
as ``base`` unchanged.  Its results are ``device``, ``size`` and
``sector_size``; ``image-path`` is empty for it and ``delete`` never
deletes it, only releases it.

The disk is found from sysfs, so no udev is needed (see
:mod:`host.disks`).

Wiping: wipefs erases every signature it knows (partition tables,
filesystems, LVM, md, LUKS), on each partition before the disk, so no
stale superblock inside a partition survives the new table; the kernel
is then made to drop the old partitions before the new table is written.

Safety: before anything is written (preflight, and ``create --check``)
the disk is refused when it does not exist or is not a block device, is
a partition or read-only, is or has a partition mounted (root or any
other filesystem; swap; a btrfs member), has holders (dm, LVM, md), backs
a loop device, is open in any process or cannot be opened exclusively,
is named in the host's /etc/fstab or /etc/crypttab, is not
``expected-size``, is smaller than the layout needs, or carries
signatures while ``wipe`` is ``none``.  The disk is claimed host-wide, so
two builds cannot target one disk.  There is no option to force.

Host tools: wipefs, partx (util-linux); dd (coreutils) for
``zero-start-end``.
"""
import os

from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device import host as host_lib
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.host import disks
from diskimage_builder.block_device.host.disks import DiskError  # noqa

SELECTORS = ('device', 'by-id', 'by-path', 'serial', 'wwn')
WIPES = ('none', 'superblocks', 'zero-start-end')
MIB = disks.MIB


def wipe_argv(node, parts, wipe, size):
    """The commands that clear the disk *node* for *wipe*: pure."""
    if wipe == 'none':
        return []
    argv = [['wipefs', '--all', part] for part in parts]
    argv.append(['wipefs', '--all', node])
    if wipe == 'zero-start-end':
        dd = ['dd', 'if=/dev/zero', 'of=' + node, 'bs=1M', 'count=1',
              'conv=notrunc,fsync', 'status=none']
        argv += [dd, dd + ['seek=%d' % (size - MIB), 'oflag=seek_bytes']]
    return argv


class DiskNode(plugin.Node):
    kind = 'disk'
    level = 0
    provides = frozenset([plugin.BLOCK_DEVICE])
    needs_kernel = 'a disk of the host'

    @property
    def selector(self):
        return self.facts['selector'], self.facts['value']

    @property
    def wipe(self):
        return self.options.get('wipe', 'none')

    def disk(self, host):
        return disks.resolve(host, *self.selector)

    def validate(self, graph, params):
        for other in plugin.earlier(graph, self):
            if isinstance(other, DiskNode) and self._same_disk(other):
                raise ConfigError(self.path, 'selects the same disk as %s '
                                  '(%s)' % (other.name, other.path))

    def _same_disk(self, other, host=None):
        if other.selector == self.selector:
            return True
        host = host or host_lib.HOST
        try:
            return other.disk(host).dev == self.disk(host).dev
        except DiskError:
            return False

    def plan(self, pctx):
        try:
            name = self.disk(pctx.host).name
        except DiskError:
            # Refused by check while it is still missing.
            pctx.set(self, zeroed=False)
            return
        size = disks.size_of(pctx.host, name)
        self._check_expected(size, name)
        pctx.set(self, size=size, zeroed=False,
                 sector_size=disks.sector_size_of(pctx.host, name))

    def _check_expected(self, size, name):
        expected = self.facts.get('expected_size')
        if expected is not None and expected != size:
            raise ConfigError(self.path + '.expected-size', 'disk %s is %d '
                              'bytes (%s), not the %d bytes (%s) expected'
                              % (name, size, sizes.human(size), expected,
                                 sizes.human(expected)))

    def check(self, ctx):
        """Refuse a disk the host uses; return what was checked."""
        try:
            disk = self.disk(ctx.host)
            lines = self._inspect(ctx, disk)
        except DiskError as err:
            raise UsageError('%s: %s; nothing was written' % (self.path,
                                                              err))
        return ['%s (%s): %s' % (self.path, self.name, line)
                for line in lines]

    def _inspect(self, ctx, disk):
        host, name = ctx.host, disk.name
        if host.attr(name, 'partition'):
            parent = os.path.basename(os.path.dirname(
                os.path.realpath(host.block(name))))
            raise DiskError('%s is a partition of %s: name the whole disk'
                            % (disk.node, parent))
        if disks.attr_text(host, name, 'ro') == '1':
            raise DiskError('%s is read-only' % disk.node)
        size = disks.size_of(host, name)
        if size < MIB:
            raise DiskError('%s holds %d bytes: is there a medium in it?'
                            % (disk.node, size))
        self._check_expected(size, name)
        parts = disks.partitions(host, name)
        _refuse_used(disk, disks.in_use(host, disk))
        numbers = {disks.attr_text(host, n, 'dev'): n
                   for n in [name] + parts}
        found = []
        for node in disks.probed_nodes(host, disk):
            found += disks.parse_signatures(
                node, ctx.run(disks.signatures_argv(node)).stdout)
        _refuse_used(disk, disks.named_by_host(host, numbers, found))
        if found and self.wipe == 'none':
            raise DiskError(
                '%s (%s) is not empty: it carries %s; wipe is none, so '
                'nothing is overwritten: set "wipe: superblocks" to clear '
                'these signatures' % (disk.node, disk.how,
                                      ', '.join(map(str, found))))
        return [
            '%s (%s): %s, %d-byte sectors, %d partition(s)' % (
                disk.node, disk.how, sizes.human(size),
                disks.sector_size_of(host, name), len(parts)),
            'not mounted, not swap, no holders, backs no loop device, open '
            'nowhere else, opens exclusively, not in /etc/fstab or '
            '/etc/crypttab',
            'signatures: %s' % (
                'none' if not found else '%s (wipe %s clears them)' % (
                    ', '.join(map(str, found)), self.wipe)),
        ]

    def create(self, ctx):
        host = ctx.host
        disk = self.disk(host)
        for other in ctx.nodes.values():
            if other is not self and isinstance(other, DiskNode) and \
                    self._same_disk(other, host):
                raise UsageError('%s and %s both select %s' % (
                    self.path, other.path, disk.node))
        ctx.claim(self, 'disk', disk.node)
        size = disks.size_of(host, disk.name)
        planned = ctx.plan_of(self.name)
        ctx.verify(planned.size == size, '%s changed size from %s to %d '
                   'bytes since the plan' % (disk.node, planned.size, size))
        for argv in wipe_argv(disk.node, disks.partition_nodes(host, disk),
                              self.wipe, size):
            ctx.run(argv)
        if self.wipe != 'none':
            self._drop_partitions(ctx, disk)
        ctx.record(self, device=disk.node, size=size,
                   sector_size=planned.sector_size, disk=disk.name)

    @staticmethod
    def _drop_partitions(ctx, disk):
        """Make the kernel forget the partitions of the old table."""
        def left():
            return disks.partitions(ctx.host, disk.name)
        ctx.host.reread_until_gone(disk.node, left, disks.BUSY_WAIT)
        ctx.run(['partx', '--delete', disk.node], needed=left,
                when='the kernel keeps partitions of the old table after '
                     're-reading the wiped one')
        ctx.verify(not left(), 'the kernel still lists partitions %s of %s '
                   'after the wipe' % (', '.join(left()), disk.node))


def _refuse_used(disk, problems):
    if problems:
        raise DiskError('%s (%s) is in use: %s' % (
            disk.node, disk.how, '; '.join(problems)))


class Existing(plugin.Plugin):
    SCHEMA = {
        'description': ('A disk the host already has, instead of an '
                        'image file: every layout that works on '
                        '``local_loop`` works on a disk by changing only '
                        'this entry.  The disk is named by exactly one of '
                        '%s.' % ', '.join('``%s``' % key
                                          for key in SELECTORS)),
        'type': 'object',
        'additionalProperties': False,
        'required': ['name'],
        'properties': {
            'name': plugin.documented(
                plugin.NAME_SCHEMA, 'Required.  The node name the layout '
                'uses as ``base``.'),
            'device': {'type': 'string', 'minLength': 1, 'description':
                       'An absolute device node such as ``/dev/vdb``, or a '
                       'link to one.'},
            'by-id': {'type': 'string', 'minLength': 1, 'description':
                      'A name in ``/dev/disk/by-id`` such as '
                      '``virtio-disk1``, worked out from sysfs when no '
                      'udev made the links (``virtio-<serial>``, NVMe, '
                      'ATA, ``wwn-0x...``).'},
            'by-path': {'type': 'string', 'minLength': 1, 'description':
                        'A name in ``/dev/disk/by-path`` such as '
                        '``pci-0000:00:05.0`` (needs udev\'s links).'},
            'serial': {'type': ['string', 'integer'], 'description':
                       'The disk\'s serial number, from sysfs.  Quote it '
                       'when YAML would read a number.'},
            'wwn': {'type': ['string', 'integer'], 'description':
                    'The disk\'s World Wide Name, from sysfs (``wwid``).  '
                    'Quote it.'},
            'wipe': {'enum': list(WIPES), 'description':
                     'What is erased before the table is written: ``none`` '
                     '(default; a disk carrying any signature is refused), '
                     '``superblocks`` (``wipefs`` every partition, then the '
                     'disk) or ``zero-start-end`` (also zero the first and '
                     'last MiB).'},
            'expected-size': {'type': ['string', 'integer'], 'description':
                              'An optional guard: the disk must be exactly '
                              'this size, or nothing is written.'},
        },
    }
    NODE_TYPES = (DiskNode,)

    @classmethod
    def default_name(cls, plugin_name, options):
        return None

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        given = [key for key in SELECTORS if key in options]
        if len(given) != 1:
            raise ConfigError(path, 'name the disk with exactly one of %s; '
                              'got %s' % (', '.join(SELECTORS),
                                          ' and '.join(given) or 'none'))
        selector = given[0]
        value = options[selector]
        where = '%s.%s' % (path, selector)
        if isinstance(value, int):
            raise ConfigError(where, 'YAML read this as the number %d: put '
                              'the value in quotes' % value)
        value = _selector_value(selector, value.strip(), where)
        facts = {'selector': selector, 'value': value}
        if 'expected-size' in options:
            facts['expected_size'] = sizes.parse_size_at(
                options['expected-size'], path + '.expected-size')
        return [DiskNode(plugin_name, options['name'], path, [], options,
                         facts)]


def _selector_value(selector, value, where):
    if selector == 'device' and not value.startswith('/'):
        raise ConfigError(where, 'expected an absolute path such as '
                          '/dev/vdb, got %r' % value)
    if selector in ('by-id', 'by-path'):
        prefix = '/dev/disk/%s/' % selector
        value = value[len(prefix):] if value.startswith(prefix) else value
        if not value or '/' in value or value in ('.', '..'):
            raise ConfigError(where, 'expected a name in %s such as %s' % (
                prefix, 'virtio-disk1' if selector == 'by-id'
                else 'pci-0000:00:05.0'))
    if not value:
        raise ConfigError(where, 'must not be empty')
    return value
