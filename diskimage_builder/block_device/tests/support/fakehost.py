"""One fake host for every unit test: a sysfs, /dev, /proc and /etc tree
in a temp dir, read by the real :class:`host.Host` code.

What the kernel would answer beyond files is kept in tables here: the
device number of each node (``stat``), the file behind each loop device
(the LOOP_GET_STATUS64 ioctl), which nodes are busy.  Builder methods add
disks, partitions, loop devices, mounts, device-mapper devices and md
arrays to the tree; tests make commands change it (``losetup --detach``
removes a loop) through FakeRunner's *effects*.
"""
import errno
import os
import shutil
import stat

import fixtures

from diskimage_builder.block_device import host as host_lib

MIB = 1 << 20
GIB = 1 << 30


class FakeHost(host_lib.Host):

    def __init__(self, root):
        super().__init__(*(os.path.join(root, d)
                           for d in ('sys', 'dev', 'proc', 'etc', 'run')))
        self.root = root
        self.blocks = {}          # realpath of a node -> st_rdev
        self.loop_files = {}      # loop name -> (st_dev, st_ino)
        self.mount_table = []     # host_lib.Mount, in mount order
        self.next_mount_id = 100
        self.busy = set()
        self.rereads = []
        for folder in ('sys/block', 'sys/class/block', 'sys/dev/block',
                       'dev', 'proc/self', 'etc', 'run'):
            os.makedirs(os.path.join(root, folder), exist_ok=True)
        self._write_mountinfo()
        self.write('proc/swaps', 'Filename Type Size Used Priority\n')

    def write(self, relative, text):
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb' if isinstance(text, bytes) else 'w') as out:
            out.write(text)
        return path

    # -- block devices --------------------------------------------------
    def add_disk(self, name, dev, size=2 * GIB, sector=512, **attrs):
        devices = os.path.join(self.sys_root, 'devices', 'virtual', 'block')
        folder = os.path.join(devices, name)
        self._device(folder, name, dev, size)
        self.write(os.path.join(folder, 'queue', 'logical_block_size'),
                   '%d\n' % sector)
        for attr, value in attrs.items():
            self.write(os.path.join(folder, attr),
                       value if isinstance(value, bytes) else value + '\n')
        os.symlink(folder, os.path.join(self.sys_root, 'block', name))
        return folder

    def add_partition(self, disk, number, dev, size=100 * MIB):
        name = '%s%s%d' % (disk, 'p' if disk[-1].isdigit() else '', number)
        folder = os.path.join(os.path.realpath(self.block(disk)), name)
        self._device(folder, name, dev, size)
        self.write(os.path.join(folder, 'partition'), '%d\n' % number)
        return name

    def remove_partitions(self, disk):
        for name in self.partitions(disk):
            self.remove_device(name)

    def remove_device(self, name):
        folder = os.path.realpath(self.block(name))
        dev = self.attr(name, 'dev')
        for link in (self.block(name),
                     os.path.join(self.sys_root, 'block', name),
                     os.path.join(self.sys_root, 'dev', 'block', dev or '')):
            if os.path.islink(link):
                os.unlink(link)
        shutil.rmtree(folder, ignore_errors=True)
        node = os.path.join(self.dev_root, name)
        self.blocks.pop(os.path.realpath(node), None)
        if os.path.lexists(node):
            os.unlink(node)

    def _device(self, folder, name, dev, size):
        for sub in ('holders', 'slaves'):
            os.makedirs(os.path.join(folder, sub), exist_ok=True)
        self.write(os.path.join(folder, 'dev'), dev + '\n')
        self.write(os.path.join(folder, 'size'), '%d\n' % (size // 512))
        self.write(os.path.join(folder, 'ro'), '0\n')
        os.symlink(folder, self.block(name))
        os.symlink(folder, os.path.join(self.sys_root, 'dev', 'block', dev))
        self.node(os.path.join(self.dev_root, name), dev)

    def _virtual(self, name, dev, size=64 * MIB):
        folder = os.path.join(self.sys_root, 'devices', 'virtual', 'block',
                              name)
        self._device(folder, name, dev, size)
        os.symlink(folder, os.path.join(self.sys_root, 'block', name))
        return folder

    def node(self, path, dev):
        """A device node (an empty file whose stat says block device)."""
        self.write(path, '')
        major, minor = (int(n) for n in dev.split(':'))
        self.blocks[os.path.realpath(path)] = os.makedev(major, minor)
        return path

    def dev_link(self, relative, target):
        """The link udev (or mdadm) makes: /dev/*relative* pointing at the
        node of kernel name *target* (``disk/by-id/virtio-x``, ``vdb``)."""
        link = os.path.join(self.dev_root, relative)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(os.path.join(self.dev_root, target),
                                   os.path.dirname(link)), link)
        return link

    def stack(self, upper, lower):
        """*upper* (dm-0, md127) is built on *lower*."""
        os.symlink(os.path.realpath(self.block(lower)),
                   self.block(upper, 'slaves', lower))
        os.symlink(os.path.realpath(self.block(upper)),
                   self.block(lower, 'holders', upper))

    # -- loop devices ---------------------------------------------------
    def add_loop(self, name, dev, backing, partitions=()):
        """Loop device *name* attached to the file *backing* (which must
        exist: its device and inode are what the kernel reports)."""
        folder = self._virtual(name, dev)
        info = os.stat(backing)
        self.write(os.path.join(folder, 'loop', 'backing_file'),
                   os.path.realpath(backing) + '\n')
        self.loop_files[name] = (info.st_dev, info.st_ino)
        for number in partitions:
            # Loop partitions get numbers of the kernel's extended range.
            self.add_partition(name, number, '259:%d' % (
                int(dev.split(':')[1]) * 16 + number))
        return os.path.join(self.dev_root, name)

    def detach_loop(self, name):
        self.remove_partitions(name)
        self.remove_device(name)
        self.loop_files.pop(name, None)

    def loop_backing_id(self, name):
        return self.loop_files.get(name)

    # -- mounts ---------------------------------------------------------
    def add_mount(self, target, devnum, source, fstype='ext4'):
        mount = host_lib.Mount(self.next_mount_id, devnum,
                               os.path.realpath(target), fstype, source)
        self.next_mount_id += 1
        self.mount_table.append(mount)
        self._write_mountinfo()
        return mount

    def remove_mount(self, target):
        target = os.path.realpath(target)
        for index in range(len(self.mount_table) - 1, -1, -1):
            if self.mount_table[index].target == target:
                del self.mount_table[index]
                break
        self._write_mountinfo()

    def _write_mountinfo(self):
        lines = ['%d 1 %s / %s rw - %s %s rw' % (
            m.mount_id, m.devnum, _escape(m.target), m.fstype,
            _escape(m.source)) for m in self.mount_table]
        self.write('proc/self/mountinfo', ''.join(line + '\n'
                                                  for line in lines))

    # -- device-mapper and md -------------------------------------------
    def add_dm(self, kname, dev, name, uuid, over=()):
        folder = self._virtual(kname, dev)
        self.write(os.path.join(folder, 'dm', 'name'), name + '\n')
        self.write(os.path.join(folder, 'dm', 'uuid'), uuid + '\n')
        for lower in over:
            self.stack(kname, lower)
        return kname

    def add_md(self, kname, dev, over=(), uuid=None, state='clean'):
        folder = self._virtual(kname, dev)
        self.write(os.path.join(folder, 'md', 'array_state'), state + '\n')
        if uuid:
            self.write(os.path.join(folder, 'md', 'uuid'), uuid + '\n')
        for lower in over:
            self.stack(kname, lower)
        return kname

    def remove_stacked(self, kname):
        for lower in self.slaves(kname):
            link = self.block(lower, 'holders', kname)
            if os.path.islink(link):
                os.unlink(link)
        self.remove_device(kname)

    # -- what needs the kernel ------------------------------------------
    def stat(self, path):
        real = os.path.realpath(path)
        if real in self.blocks and os.path.exists(real):
            return _BlockStat(self.blocks[real])
        return os.stat(real)

    def lstat(self, path):
        real = os.path.join(os.path.realpath(os.path.dirname(path)),
                            os.path.basename(path))
        if real in self.blocks and os.path.isfile(path) and \
                not os.path.islink(path):
            return _BlockStat(self.blocks[real])
        return os.lstat(path)

    def open_exclusive(self, path):
        if os.path.realpath(path) in self.busy:
            raise OSError(errno.EBUSY, 'Device or resource busy')

    def reread_partitions(self, path):
        self.rereads.append(path)
        self.remove_partitions(os.path.basename(path))

    def make_node(self, path, devnum, mode=0o660):
        self.node(path, devnum)


class _BlockStat:
    def __init__(self, rdev):
        self.st_mode = stat.S_IFBLK | 0o660
        self.st_rdev = rdev


def _escape(text):
    return ''.join('\\%03o' % ord(c) if c in ' \t\n\\' else c for c in text)


class FakeKernel:
    """What commands do to a FakeHost, as the kernel would have them
    happen: FakeRunner(expected, effects=FakeKernel(host).effects())."""

    def __init__(self, host):
        self.host = host
        self.minor = 0
        self.luks_uuids = {}

    def effects(self):
        return {'losetup': self.losetup, 'mount': self.mount,
                'umount': self.umount, 'cryptsetup': self.cryptsetup,
                'lvcreate': self.lvcreate, 'vgchange': self.vgchange,
                'lvchange': self.lvchange, 'mdadm': self.mdadm}

    def mdadm(self, argv, stdout):
        if argv[1] == '--create':
            link = argv[2]
            members = [a for a in argv[3:] if not a.startswith('-')]
            kname = 'md%d' % (127 - len(self.host.md_arrays()))
            self.host.add_md(kname, '9:%s' % kname[2:],
                             over=[self.host.kernel_name(m)
                                   for m in members])
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink('../' + kname, link)
        elif argv[1] == '--stop':
            self.host.remove_stacked(os.path.basename(argv[2]))

    def _dev(self, major):
        self.minor += 1
        return '%d:%d' % (major, self.minor)

    def losetup(self, argv, stdout):
        if '--detach' in argv:
            self.host.detach_loop(os.path.basename(argv[-1]))
        elif '--find' in argv:
            self.host.add_loop(os.path.basename(stdout.strip()),
                               self._dev(7), argv[-1])

    def mount(self, argv, stdout):
        device, target = argv[-2:]
        fstype = argv[argv.index('-t') + 1] if '-t' in argv else 'ext4'
        self.host.add_mount(target, self.host.devnum(device) or '0:0',
                            device, fstype)

    def umount(self, argv, stdout):
        self.host.remove_mount(argv[-1])

    def cryptsetup(self, argv, stdout):
        if argv[1] == 'luksUUID':
            self.luks_uuids[argv[-1]] = stdout.strip()
        elif argv[1] == 'open':
            device, name = argv[-2:]
            kname = 'dm-%d' % self.minor
            uuid = self.luks_uuids.get(device, '').replace('-', '')
            self.host.add_dm(kname, self._dev(253), name,
                             'CRYPT-LUKS2-%s-%s' % (uuid, name),
                             over=[self.host.kernel_name(device)])
            # libdevmapper makes the node itself (DM_DISABLE_UDEV).
            self.host.node(os.path.join(self.host.dev_root, 'mapper', name),
                           self.host.attr(kname, 'dev'))
        elif argv[1] == 'close':
            dm = self.host.dm_devices().get(argv[-1])
            if dm:
                self.host.remove_stacked(dm.kname)
                node = os.path.join(self.host.dev_root, 'mapper', argv[-1])
                if os.path.lexists(node):
                    os.unlink(node)

    def lvcreate(self, argv, stdout):
        vg, lv = argv[-1], argv[argv.index('--name') + 1]
        devices = argv[argv.index('--devices') + 1].split(',')
        name = '%s-%s' % (vg.replace('-', '--'), lv.replace('-', '--'))
        kname = 'dm-%d' % self.minor
        self.host.add_dm(kname, self._dev(253), name, 'LVM-' + name,
                         over=[self.host.kernel_name(d) for d in devices])
        self.host.node(os.path.join(self.host.dev_root, vg, lv),
                       self.host.attr(kname, 'dev'))

    def vgchange(self, argv, stdout):
        vg = argv[-1]
        for name, dm in list(self.host.dm_devices().items()):
            if dm.uuid.startswith('LVM-') and name.split('-')[0] == \
                    vg.replace('-', '--').split('-')[0]:
                self.host.remove_stacked(dm.kname)

    def lvchange(self, argv, stdout):
        vg, lv = argv[-1].split('/')
        name = '%s-%s' % (vg.replace('-', '--'), lv.replace('-', '--'))
        dm = self.host.dm_devices().get(name)
        if dm:
            self.host.remove_stacked(dm.kname)


class FakeHostFixture(fixtures.Fixture):
    """A FakeHost in a temp dir, installed as the host every phase uses."""

    def _setUp(self):
        root = self.useFixture(fixtures.TempDir()).path
        self.host = FakeHost(root)
        self.useFixture(fixtures.MonkeyPatch(
            'diskimage_builder.block_device.host.HOST', self.host))
