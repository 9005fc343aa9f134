"""``existing``: build straight onto a disk the host already has.

    - existing:
        name: image0
        serial: disk1             # exactly one of the five selectors:
        # device: /dev/vdb        #   a device node (or a link to one)
        # by-id: virtio-disk1     #   a /dev/disk/by-id name
        # by-path: pci-0000:00:05.0   # a /dev/disk/by-path name
        # wwn: '0x5000c500a1b2c3d4'   # the World Wide Name (sysfs wwid)
        wipe: superblocks         # none (default), superblocks, or
                                  # zero-start-end
        expected-size: 2GiB       # optional: the disk must be this size

It stands in for ``local_loop``: partitioning, lvm, crypt, mdraid and mkfs
take it as ``base`` unchanged.  Its results are ``device``, ``size`` and
``sector_size``; ``image-path`` is empty for it and ``delete`` never
deletes it, only releases it.

Selectors are resolved from sysfs, so no udev is needed: ``serial`` is
matched against ``/sys/block/*/serial``, ``device/serial`` and the SCSI
unit serial page, ``wwn`` against ``wwid`` and ``device/wwid``.  ``by-id``
uses udev's link when there is one, and otherwise the names udev would
give, worked out from sysfs for virtio (``virtio-<serial>``), NVMe, ATA
and ``wwn-0x...`` disks.  ``by-path`` names need udev's links.

``wipe``: ``superblocks`` erases every signature wipefs knows (partition
tables, filesystems, LVM, md, LUKS) from each partition and then from the
disk; ``zero-start-end`` also zeroes the first and last MiB.  Stale
partitions are dropped before the new table is written.

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
import dataclasses
import errno
import json
import logging
import os
import stat
import time

from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device import host as host_lib
from diskimage_builder.block_device.host import unescape
from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.errors import UsageError

LOG = logging.getLogger(__name__)
SELECTORS = ('device', 'by-id', 'by-path', 'serial', 'wwn')
WIPES = ('none', 'superblocks', 'zero-start-end')
MIB = 1 << 20
# How long a transient opener (udev probing after a change event) gets to
# let go before the disk counts as busy.
BUSY_WAIT = 3.0


class DiskError(UsageError):
    """The disk cannot be used; the message says why (exit status 2)."""


@dataclasses.dataclass
class Disk:
    name: str       # kernel name: vdb, sda, nvme0n1
    node: str       # its device node
    dev: str        # major:minor
    how: str        # how it was selected, for messages


# -- finding the disk --------------------------------------------------------

def resolve(host, selector, value):
    """The one disk *selector* names, or DiskError."""
    how = '%s %s' % (selector, value)
    if selector == 'device':
        return _by_node(host, value, how)
    if selector in ('by-id', 'by-path'):
        link = os.path.join(host.dev_root, 'disk', selector, value)
        if os.path.lexists(link):
            return _by_node(host, link, how)
        if selector == 'by-path':
            raise DiskError('there is no %s: by-path names are links udev '
                            'makes, and it made none here; select the disk '
                            'by serial or wwn' % link)
        matches = [n for n in disks(host) if value in by_id_names(host, n)]
    elif selector == 'serial':
        matches = [n for n in disks(host) if value in serials(host, n)]
    else:
        wanted = _wwn_key(value)
        matches = [n for n in disks(host)
                   if wanted in {_wwn_key(w) for w in wwids(host, n)}]
    if len(matches) > 1:
        raise DiskError('%s matches %d disks (%s): select one by device'
                        % (how, len(matches), ', '.join(matches)))
    if not matches:
        seen = ', '.join(describe(host, n) for n in disks(host)
                         if not n.startswith(('loop', 'ram', 'zram')))
        raise DiskError('no disk has %s (disks seen: %s)'
                        % (how, seen or 'none'))
    return _by_name(host, matches[0], how)


def _by_node(host, path, how):
    try:
        info = host.stat(path)
    except FileNotFoundError:
        raise DiskError('%s does not exist' % path)
    except OSError as err:
        raise DiskError('cannot look at %s: %s' % (path, err.strerror))
    if not stat.S_ISBLK(info.st_mode):
        raise DiskError('%s is not a block device (it is %s)'
                        % (path, _file_kind(info.st_mode)))
    dev = _devnum(info.st_rdev)
    sysdir = os.path.join(host.sys_root, 'dev', 'block', dev)
    if not os.path.exists(sysdir):
        raise DiskError('%s is device %s, which the kernel does not list '
                        'in %s' % (path, dev, sysdir))
    name = os.path.basename(os.path.realpath(sysdir))
    return Disk(name, os.path.realpath(path), dev, how)


def _by_name(host, name, how):
    dev = (host.read(host.block(name, 'dev')) or '').strip()
    node = os.path.join(host.dev_root, name)
    try:
        info = host.stat(node)
    except OSError:
        raise DiskError('the kernel has disk %s (%s) but there is no %s'
                        % (name, how, node))
    if not stat.S_ISBLK(info.st_mode) or _devnum(info.st_rdev) != dev:
        raise DiskError('%s is not the device node of %s (%s)'
                        % (node, name, dev))
    return Disk(name, node, dev, how)


def _devnum(rdev):
    return '%d:%d' % (os.major(rdev), os.minor(rdev))


def _file_kind(mode):
    for test, kind in ((stat.S_ISREG, 'a regular file'),
                       (stat.S_ISDIR, 'a directory'),
                       (stat.S_ISCHR, 'a character device')):
        if test(mode):
            return kind
    return 'not a device'


def disks(host):
    return host.listdir(os.path.join(host.sys_root, 'block'))


def _attr(host, name, *attr):
    text = host.read(host.block(name, *attr))
    return text.strip('\x00 \t\n') if text else ''


def serials(host, name):
    found = {_attr(host, name, 'serial'),
             _attr(host, name, 'device', 'serial')}
    # SCSI unit serial number page: a 4-byte header, then the serial.
    page = host.read(host.block(name, 'device', 'vpd_pg80'), binary=True)
    if page and len(page) > 4:
        found.add(page[4:].decode('ascii', 'replace').strip('\x00 '))
    return found - {''}


def wwids(host, name):
    return {_attr(host, name, 'wwid'),
            _attr(host, name, 'device', 'wwid')} - {''}


def _wwn_key(text):
    text = ' '.join(text.lower().split())
    for prefix in ('wwn-', '0x', 'naa.', 'eui.'):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def _udev_word(text):
    # udev turns each run of white space into one _ and / into _.
    return '_'.join(text.split()).replace('/', '_')


def by_id_names(host, name):
    """The /dev/disk/by-id names udev would give *name*, from sysfs."""
    names = set()
    serial = _attr(host, name, 'serial')
    if name.startswith('vd') and serial:
        names.add('virtio-' + _udev_word(serial))
    model = _attr(host, name, 'device', 'model')
    if name.startswith('nvme'):
        device_serial = _attr(host, name, 'device', 'serial')
        if model and device_serial:
            names.add('nvme-%s_%s' % (_udev_word(model),
                                      _udev_word(device_serial)))
    for wwid in wwids(host, name):
        if name.startswith('nvme'):
            names.add('nvme-' + _udev_word(wwid))
        elif wwid.startswith('naa.'):
            names.add('wwn-0x' + wwid[4:].lower())
            names.add('scsi-3' + wwid[4:].lower())
        elif wwid.startswith('t10.ATA'):
            words = wwid[len('t10.ATA'):].split()
            if len(words) > 1:
                names.add('ata-%s_%s' % ('_'.join(words[:-1]), words[-1]))
    return names


def describe(host, name):
    extra = sorted(serials(host, name)) or sorted(wwids(host, name))
    return name + (' (%s)' % extra[0] if extra else '')


def partitions(host, name):
    return [entry for entry in host.listdir(host.block(name))
            if os.path.exists(host.block(name, entry, 'partition'))]


def size_of(host, name):
    return int(_attr(host, name, 'size') or 0) * 512


def sector_size_of(host, name):
    return int(_attr(host, name, 'queue', 'logical_block_size') or 512)


# -- what the host does with it ----------------------------------------------

def in_use(host, disk, wait=None):
    """Every way the host uses *disk* or its partitions, as sentences."""
    names = [disk.name] + partitions(host, disk.name)
    numbers = {_attr(host, n, 'dev'): n for n in names}
    problems = (mounted(host, numbers, names) + swapped(host, numbers)
                + held(host, names) + looped(host, numbers))
    # Waiting only helps when nothing lasting was found.
    wait = 0 if problems else BUSY_WAIT if wait is None else wait
    deadline = time.monotonic() + wait
    while True:
        busy = opened(host, numbers) + exclusive(host, disk)
        if not busy or time.monotonic() >= deadline:
            return problems + busy
        time.sleep(0.2)


def _which(host, path, numbers):
    """The name in *numbers* that block device *path* is, or None."""
    try:
        info = host.stat(path)
    except OSError:
        return None
    if stat.S_ISBLK(info.st_mode):
        return numbers.get(_devnum(info.st_rdev))
    return None


def mounted(host, numbers, names):
    problems = []
    info = host.read(os.path.join(host.proc_root, 'self', 'mountinfo'))
    for line in (info or '').splitlines():
        fields = line.split()
        if ' - ' not in line or len(fields) < 5:
            continue
        fstype, source = line.split(' - ', 1)[1].split()[:2]
        source = unescape(source)
        real = os.path.realpath(source) if source.startswith('/') else ''
        name = numbers.get(fields[2]) or (
            os.path.basename(real) if real.startswith('/dev/') else None)
        if name in names:
            target = unescape(fields[4])
            problems.append('%s is mounted on %s (%s)%s' % (
                name, target, fstype,
                ': it holds the root filesystem' if target == '/' else ''))
    btrfs = os.path.join(host.sys_root, 'fs', 'btrfs')
    for fsid in host.listdir(btrfs):
        for name in host.listdir(os.path.join(btrfs, fsid, 'devices')):
            if name in names:
                problems.append('%s is a device of the mounted btrfs '
                                'filesystem %s' % (name, fsid))
    return problems


def swapped(host, numbers):
    text = host.read(os.path.join(host.proc_root, 'swaps')) or ''
    problems = []
    for line in text.splitlines()[1:]:
        path = unescape(line.split()[0]) if line.split() else ''
        name = _which(host, path, numbers)
        if name:
            problems.append('%s is in use as swap' % name)
    return problems


def held(host, names):
    problems = []
    for name in names:
        for holder in host.listdir(host.block(name, 'holders')):
            what = _attr(host, holder, 'dm', 'name')
            what = ('device-mapper %s' % what if what else
                    'md array' if holder.startswith('md') else 'holder')
            problems.append('%s is held by %s (%s): deactivate or stop it '
                            'first' % (name, holder, what))
    return problems


def looped(host, numbers):
    problems = []
    for loop in disks(host):
        backing = _attr(host, loop, 'loop', 'backing_file')
        name = _which(host, backing, numbers) if backing else None
        if name:
            problems.append('%s backs the loop device %s' % (name, loop))
    return problems


def opened(host, numbers):
    problems = []
    for pid in host.listdir(host.proc_root):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        fds = os.path.join(host.proc_root, pid, 'fd')
        for fd in host.listdir(fds):
            name = _which(host, os.path.join(fds, fd), numbers)
            if name:
                comm = (host.read(os.path.join(host.proc_root, pid, 'comm'))
                        or '?').strip()
                problems.append('%s is open in process %s (%s)'
                                % (name, pid, comm))
                break
    return problems


def exclusive(host, disk):
    try:
        host.open_exclusive(disk.node)
    except OSError as err:
        if err.errno == errno.EBUSY:
            return ['%s cannot be opened exclusively: the kernel or a '
                    'program holds it' % disk.node]
        return ['cannot open %s: %s' % (disk.node, err.strerror)]
    return []


@dataclasses.dataclass
class Signature:
    device: str
    type: str
    offset: str
    uuid: str = None
    label: str = None

    def __str__(self):
        return '%s at %s on %s' % (self.type, self.offset, self.device)


def signatures_argv(device):
    return ['wipefs', '--no-act', '--json', '--output',
            'DEVICE,OFFSET,TYPE,UUID,LABEL', device]


def signatures(runner, devices):
    """What wipefs finds on *devices*, reading only."""
    found = []
    for device in devices:
        out = runner.run(signatures_argv(device)).stdout
        data = json.loads(out) if out.strip() else {}
        for sig in data.get('signatures', []):
            found.append(Signature(device, sig.get('type') or '?',
                                   sig.get('offset') or '?', sig.get('uuid'),
                                   sig.get('label')))
    return found


def probed_nodes(host, disk):
    """The device nodes of the disk and its partitions that wipefs reads
    (those whose node really is that device)."""
    names = [disk.name] + partitions(host, disk.name)
    numbers = {_attr(host, n, 'dev'): n for n in names}
    return [node for node in [disk.node] + partition_nodes(host, disk)
            if _which(host, node, numbers)]


def named_by_host(host, numbers, found):
    """Lines of /etc/fstab and /etc/crypttab that name the disk."""
    uuids = {s.uuid.lower() for s in found if s.uuid}
    labels = {s.label for s in found if s.label}
    problems = []
    for table, column in (('fstab', 0), ('crypttab', 1)):
        path = os.path.join(host.etc_root, table)
        for line in (host.read(path) or '').splitlines():
            words = line.split()
            if line.lstrip().startswith('#') or len(words) <= column:
                continue
            spec = words[column]
            key, _, value = spec.partition('=')
            if (key == 'UUID' and value.lower() in uuids or
                    key == 'LABEL' and value in labels or
                    spec.startswith('/') and _which(host, spec, numbers)):
                problems.append('the host\'s %s names it: %r' % (
                    path, ' '.join(words[:3])))
    return problems


# -- writing -----------------------------------------------------------------

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


def partx_delete_argv(node):
    return ['partx', '--delete', node]


def partition_nodes(host, disk):
    return [os.path.join(host.dev_root, name)
            for name in partitions(host, disk.name)]


def drop_partitions(runner, host, disk):
    """Make the kernel forget the partitions of the old table."""
    deadline = time.monotonic() + BUSY_WAIT
    while partitions(host, disk.name):
        try:
            host.reread_partitions(disk.node)
            break
        except OSError as err:
            # udev may still be probing a partition after the wipe.
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                break
        time.sleep(0.2)
    if partitions(host, disk.name):
        runner.run(partx_delete_argv(disk.node))
    left = partitions(host, disk.name)
    if left:
        raise BlockDeviceError('the kernel still lists partitions %s of %s '
                               'after the wipe' % (', '.join(left),
                                                   disk.node))


# -- the node ----------------------------------------------------------------

class DiskNode(plugin.Node):
    kind = 'disk'
    level = 0
    provides = frozenset([plugin.BLOCK_DEVICE])

    @property
    def selector(self):
        return self.facts['selector'], self.facts['value']

    @property
    def wipe(self):
        return self.options.get('wipe', 'none')

    def disk(self, host=None):
        return resolve(host or host_lib.HOST, *self.selector)

    def tools(self, params):
        tools = {'wipefs': 'util-linux', 'partx': 'util-linux'}
        if self.wipe == 'zero-start-end':
            tools['dd'] = 'coreutils'
        return tools

    def validate(self, graph, params):
        for other in plugin.earlier(graph, self):
            if other.kind == self.kind and self._same_disk(other):
                raise ConfigError(self.path, 'selects the same disk as %s '
                                  '(%s)' % (other.name, other.path))

    def _same_disk(self, other):
        if other.selector == self.selector:
            return True
        try:
            return other.disk().dev == self.disk().dev
        except DiskError:
            return False

    def claims(self):
        return [('disk', self.disk().node)]

    def plan(self, pctx):
        pctx.of(self.name).update(zeroed=False)
        try:
            name = self.disk().name
        except DiskError:
            return      # refused by preflight when it is still missing
        host = host_lib.HOST
        size = size_of(host, name)
        self._check_expected(size, name)
        pctx.of(self.name).update(size=size,
                                  sector_size=sector_size_of(host, name))

    def _check_expected(self, size, name):
        expected = self.facts.get('expected_size')
        if expected is not None and expected != size:
            raise ConfigError(self.path + '.expected-size', 'disk %s is %d '
                              'bytes (%s), not the %d bytes (%s) expected'
                              % (name, size, sizes.human(size), expected,
                                 sizes.human(expected)))

    def preflight(self, runner, params):
        """Refuse a disk the host uses; return what was checked."""
        host = host_lib.HOST
        try:
            disk = self.disk(host)
            lines = self._check(runner, host, disk)
        except DiskError as err:
            raise UsageError('%s: %s; nothing was written' % (self.path,
                                                              err))
        return ['%s (%s): %s' % (self.path, self.name, line)
                for line in lines]

    def _check(self, runner, host, disk):
        name = disk.name
        whole = host.block(name, 'partition')
        if os.path.exists(whole):
            parent = os.path.basename(os.path.dirname(
                os.path.realpath(host.block(name))))
            raise DiskError('%s is a partition of %s: name the whole disk'
                            % (disk.node, parent))
        if _attr(host, name, 'ro') == '1':
            raise DiskError('%s is read-only' % disk.node)
        size = size_of(host, name)
        if size < MIB:
            raise DiskError('%s holds %d bytes: is there a medium in it?'
                            % (disk.node, size))
        self._check_expected(size, name)
        parts = partitions(host, name)
        self._refuse_used(disk, in_use(host, disk))
        numbers = {_attr(host, n, 'dev'): n for n in [name] + parts}
        found = signatures(runner, probed_nodes(host, disk))
        self._refuse_used(disk, named_by_host(host, numbers, found))
        if found and self.wipe == 'none':
            raise DiskError(
                '%s (%s) is not empty: it carries %s; wipe is none, so '
                'nothing is overwritten: set "wipe: superblocks" to clear '
                'these signatures' % (disk.node, disk.how,
                                      ', '.join(map(str, found))))
        return [
            '%s (%s): %s, %d-byte sectors, %d partition(s)' % (
                disk.node, disk.how, sizes.human(size),
                sector_size_of(host, name), len(parts)),
            'not mounted, not swap, no holders, backs no loop device, open '
            'nowhere else, opens exclusively, not in /etc/fstab or '
            '/etc/crypttab',
            'signatures: %s' % (
                'none' if not found else '%s (wipe %s clears them)' % (
                    ', '.join(map(str, found)), self.wipe)),
        ]

    @staticmethod
    def _refuse_used(disk, problems):
        if problems:
            raise DiskError('%s (%s) is in use: %s' % (
                disk.node, disk.how, '; '.join(problems)))

    def preflight_commands(self, pctx):
        # The disk as it is now: create reads it again, and refuses it if
        # it changed size; its partitions may change before then.
        try:
            disk = self.disk()
        except DiskError:
            return []
        return [plugin.command(signatures_argv(node))
                for node in probed_nodes(host_lib.HOST, disk)]

    def commands(self, pctx):
        try:
            disk = self.disk()
        except DiskError:
            return []
        size = pctx.planned[self.name]['size']
        out = [plugin.command(argv) for argv in wipe_argv(
            disk.node, partition_nodes(host_lib.HOST, disk), self.wipe, size)]
        if self.wipe != 'none':
            out.append(plugin.command(
                partx_delete_argv(disk.node),
                when='the kernel keeps partitions of the old table after '
                     're-reading the wiped one'))
        return out

    def create(self, ctx):
        disk = self.disk()
        for other in ctx.nodes.values():
            if other is not self and other.kind == self.kind:
                try:
                    same = other.disk().dev == disk.dev
                except DiskError:
                    same = False
                if same:
                    raise UsageError('%s and %s both select %s' % (
                        self.path, other.path, disk.node))
        size = size_of(host_lib.HOST, disk.name)
        planned = ctx.planned.get(self.name, {})
        if planned.get('size') != size:
            raise BlockDeviceError('%s changed size from %s to %d bytes '
                                   'since the plan' % (
                                       disk.node, planned.get('size'), size))
        for argv in wipe_argv(disk.node, partition_nodes(host_lib.HOST, disk),
                              self.wipe, size):
            ctx.runner.run(argv)
        if self.wipe != 'none':
            drop_partitions(ctx.runner, host_lib.HOST, disk)
        ctx.record(self, device=disk.node, size=size,
                   sector_size=planned['sector_size'], disk=disk.name)


class Existing(plugin.Plugin):
    SCHEMA = {
        'type': 'object',
        'additionalProperties': False,
        'required': ['name'],
        'properties': {
            'name': plugin.NAME_SCHEMA,
            'device': {'type': 'string', 'minLength': 1},
            'by-id': {'type': 'string', 'minLength': 1},
            'by-path': {'type': 'string', 'minLength': 1},
            'serial': {'type': ['string', 'integer']},
            'wwn': {'type': ['string', 'integer']},
            'wipe': {'enum': list(WIPES)},
            'expected-size': {'type': ['string', 'integer']},
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
