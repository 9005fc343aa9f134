"""build --offline as no root: uid 65534 (setpriv, no capabilities, no
way to gain any) under fakeroot, from a tree with every kind of file
(tests/support/offlinetree.py); each image read back as root through
loop devices, checked with each filesystem's own tools, against the
tree's manifest and against the kernel path's image of the same tree."""
import filecmp
import json
import os
import re
import shutil
import sys
import tempfile

from diskimage_builder.block_device.tests.support import harness as base
from diskimage_builder.block_device.tests.support import hosttools
from diskimage_builder.block_device.tests.support import manifest as mf
from diskimage_builder.block_device.tests.support import offlinetree
from diskimage_builder.block_device.tests.support import uservenv
from diskimage_builder.block_device.tests.support.harness import ReadBack

TOOLS = {'fakeroot': 'fakeroot', 'mdir': 'mtools', 'mcopy': 'mtools',
         'setpriv': 'util-linux', 'mkfs.vfat': 'dosfstools',
         'fsck.fat': 'dosfstools', 'mkfs.btrfs': 'btrfs-progs',
         'btrfs': 'btrfs-progs', 'mkfs.xfs': 'xfsprogs',
         'xfs_repair': 'xfsprogs', 'e2fsck': 'e2fsprogs',
         'debugfs': 'e2fsprogs', 'mkswap': 'util-linux', 'tar': 'tar'}
MIB = 1 << 20
PYTHON = uservenv.PYTHON
SEED_ENV = {'SOURCE_DATE_EPOCH': '1700000000'}
LOG_LINE = re.compile(r'^[0-9:.]+ (DEBUG|INFO|WARNING) ')

ESP = """      - name: ESP
        type: '{esp}'{primary}
        size: {esp_size}
        mkfs: {{type: vfat, label: ESP,
               mount: {{mount_point: /boot/efi, fstab: {{}}}}}}
"""
BOOT = """      - name: boot{primary}
        size: {boot_size}
        mkfs: {{type: ext2, label: BOOT,
               mount: {{mount_point: /boot, fstab: {{}}}}}}
"""
SWAP = """      - name: swap
        type: '{swap}'
        size: 16MiB
        mkfs: {{type: swap, label: SWAP,
               mount: {{mount_point: none, fstab: {{}}}}}}
"""
VAR = """      - name: var
        size: {var_size}
        mkfs: {{type: btrfs, label: VAR,
               mount: {{mount_point: /var, fstab: {{spec: uuid}}}}}}
"""
SRV = """      - name: srv
        size: 320MiB
        mkfs: {{type: xfs, label: SRV,
               mount: {{mount_point: /srv, fstab: {{spec: uuid}}}}}}
"""
ROOT = """      - name: root{primary}
        size: {root_size}
        mkfs: {{type: ext4, label: root,
               mount: {{mount_point: /, fstab: {{}}}}}}
"""
HEAD = """- local_loop: {{name: image0}}
- partitioning:
    base: image0
    label: {label}
    partitions:
"""


def layout(label, *parts, **sizes):
    """A config of *parts* (the snippets above) in that order."""
    values = dict(label=label, esp='EF00' if label == 'gpt' else 'ef',
                  swap='8200' if label == 'gpt' else '82',
                  primary='', esp_size='40MiB', boot_size='96MiB',
                  var_size='256MiB', root_size='100%')
    values.update(sizes)
    text = HEAD.format(**values)
    for index, snippet in enumerate(parts):
        primary = '\n        flags: [primary]' if label == 'mbr' and \
            index < 3 else ''
        text += snippet.format(**dict(values, primary=primary))
    return text


GPT = layout('gpt', ESP, BOOT, SWAP, VAR, ROOT)
# Three primaries, then swap and /var in logical partitions.
MBR = layout('mbr', ESP, BOOT, ROOT, SWAP, VAR, root_size='512MiB',
             var_size='100%')
# What the host's kernel can mount (no vfat here), xfs among them.
KERNEL = layout('gpt', BOOT, SWAP, VAR, SRV, ROOT)
REPRO = layout('gpt', ESP, BOOT, SWAP, ROOT)
FIT = layout('gpt', ESP, BOOT, ROOT, esp_size='auto', boot_size='auto',
             root_size='auto')
LVM = """
- local_loop: {name: image0}
- lvm: {pvs: [{name: pv, base: image0}], vgs: [{name: vg, base: [pv]}],
        lvs: [{name: lv, base: vg, size: 64MiB}]}
- mkfs: {name: mkfs_lv, base: lv, type: ext4,
         mount: {mount_point: /, fstab: {}}}
"""
CRYPT = """
- local_loop: {name: image0}
- crypt:
    base: image0
    name: cryptroot
    passphrase-env: DIB_TEST_LUKS_KEY
    mkfs: {name: mkfs_root, type: ext4, mount: {mount_point: /, fstab: {}}}
"""


class Workspace:
    """A folder of /var/tmp for one test class: ``user/`` belongs to uid
    65534 and holds the tree (made under fakeroot, its state saved),
    copies of the helper scripts and the outputs."""

    def __init__(self):
        self.top = tempfile.mkdtemp(prefix='dib-offline-', dir='/var/tmp')
        try:
            self._make()
        except BaseException:
            self.remove()
            raise

    def _make(self):
        os.chmod(self.top, 0o755)
        self.home = self.user_folder('user')
        self.scripts = {}
        for module in (offlinetree, mf):
            name = os.path.basename(module.__file__)
            self.scripts[module] = os.path.join(self.home, name)
            shutil.copyfile(module.__file__, self.scripts[module])
            os.chmod(self.scripts[module], 0o644)
        self.tree = os.path.join(self.home, 'tree')
        self.state = os.path.join(self.home, 'fakeroot.state')
        self.venv = uservenv.ensure()
        self.nobody(['fakeroot', '-s', self.state, '--', PYTHON,
                     self.scripts[offlinetree], 'make', self.tree])
        self.manifest = json.loads(self.in_session(
            [PYTHON, self.scripts[mf], self.tree]).stdout)

    def user_folder(self, *parts):
        path = os.path.join(self.top, *parts)
        os.makedirs(path, mode=0o755)
        os.chown(path, uservenv.USER, uservenv.USER)
        return path

    def nobody(self, argv, check=True, env=None):
        return base.run(uservenv.as_user(argv, env), check=check,
                        cwd=self.home)

    def in_session(self, argv, check=True, env=None):
        """*argv* as uid 65534 under fakeroot with the tree's state, in
        the session that sets its extended attributes (fakeroot keeps
        them in its daemon, not in the state it saves)."""
        return self.nobody(['fakeroot', '-i', self.state, '--', PYTHON,
                            self.scripts[offlinetree], 'xattrs', self.tree,
                            '--'] + argv, check=check, env=env)

    def remove(self):
        shutil.rmtree(self.top, ignore_errors=True)


class OfflineCase(base.FunctionalTestCase):
    """A host test of offline builds: the workspace is made once per
    class; a missing tool or prerequisite fails, never skips."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.space = None

    @classmethod
    def tearDownClass(cls):
        if cls.space is not None:
            cls.space.remove()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        missing = hosttools.missing(TOOLS) or uservenv.prerequisites()
        if missing:
            self.fail(missing)
        if type(self).space is None:
            type(self).space = Workspace()
        self.space = type(self).space

    def config(self, name, text):
        path = os.path.join(self.space.home, name + '.yaml')
        with open(path, 'w') as out:
            out.write(text)
        os.chmod(path, 0o644)
        return path

    def offline(self, name, config_text, size='1GiB', extra=(), env=None,
                session=True, root=None, check=True):
        """Build *config_text* offline as uid 65534 (under fakeroot with
        *session*) into a folder of its own; returns (process, image).
        Asserts that the build ran as uid 65534 without privileges, and
        attached no loop device."""
        out = self.space.user_folder('out-' + name)
        image = os.path.join(out, name + '.raw')
        ids = os.path.join(self.space.home, 'ids-' + name)
        argv = [self.space.venv, '-m', 'diskimage_builder.block_device',
                'build', '--offline', '--root', root or self.space.tree,
                '--output', image, '--config',
                self.config(name, config_text)]
        argv += ['--size', size] if size else []
        argv += list(extra)
        loops = self.loops()
        wrap = ['sh', '-c', 'cat /proc/self/status > "$0"; exec "$@"', ids]
        if session:
            proc = self.space.in_session(wrap + argv, check=False, env=env)
        else:
            proc = self.space.nobody(wrap + argv, check=False, env=env)
        self.assertEqual(loops, self.loops(), 'the offline build attached '
                         'a loop device')
        self.check_unprivileged(ids)
        if check:
            self.assertEqual(0, proc.returncode, proc.stderr)
            self.assertEqual([os.path.basename(image)], os.listdir(out))
        return proc, image

    def loops(self):
        return [line for line in base.run(
            ['losetup', '-ln', '-O', 'NAME,BACK-FILE']).stdout.splitlines()
            if self.space.top in line]

    def check_unprivileged(self, ids):
        with open(ids) as src:
            status = dict(re.findall(r'^(\w+):\s*(.*)$', src.read(), re.M))
        user = '\t'.join([str(uservenv.USER)] * 4)
        self.assertEqual((user, user, '0' * 16, '0' * 16, '1'), (
            status['Uid'], status['Gid'], status['CapEff'],
            status['CapBnd'], status['NoNewPrivs']), status)

    # -- reading an image back ------------------------------------------
    def plan(self, config_text, size):
        return json.loads(base.run(
            [sys.executable, '-m', 'diskimage_builder.block_device', 'plan',
             '--config', self.config('plan', config_text), '--size', size,
             '--format', 'json'], cwd=base.REPO).stdout)

    def read_back(self, image, plan):
        """Check *image* against *plan* (partition table, each
        filesystem's type, label and fsck, the fstab); return {mount
        point: (fstype, manifest)}."""
        nodes = {node['name']: node for node in plan['nodes']}
        self.check_table(image, nodes)
        back = self.useFixture(ReadBack(image))
        uuids, found, self.image_fstab = {}, {}, None
        points = {node['deps'][0]: node['facts']['mount_point']
                  for node in nodes.values() if node['plugin'] == 'mount'}
        for node in nodes.values():
            if node['plugin'] != 'mkfs':
                continue
            part = nodes[node['deps'][0]]['planned']
            device = back.partition(part['number'])
            info = back.blkid(device)
            fstype = node['facts']['fstype']
            self.assertEqual((fstype, node['facts']['label']),
                             (info['TYPE'], info.get('LABEL')))
            uuids[node['name']] = info['UUID']
            self.fsck(fstype, device)
            point = points[node['name']]
            if point.startswith('/'):
                found[point] = (fstype, self.manifest_of(
                    back, device, fstype, part['start'], image,
                    nested(point, points.values())))
        fstab = ''.join(re.sub(r'<uuid of (\w+)>', lambda m: uuids[
            m.group(1)], line) + '\n' for line in plan['fstab'])
        self.assertEqual(fstab, self.image_fstab)
        return found

    def check_table(self, image, nodes):
        table = base.sfdisk_json(image)
        planned = sorted((node['planned']['number'],
                          node['planned']['first_lba'],
                          node['planned']['last_lba'] + 1 -
                          node['planned']['first_lba'])
                         for node in nodes.values()
                         if 'first_lba' in node['planned'])
        # An MBR's extended partition holds the logical ones.
        got = sorted((int(re.search(r'(\d+)$', part['node']).group(1)),
                      part['start'], part['size'])
                     for part in table['partitions']
                     if part['type'] not in ('5', 'f', '85'))
        self.assertEqual(planned, got)

    def fsck(self, fstype, device):
        argv = {'ext2': ['e2fsck', '-fn'], 'ext4': ['e2fsck', '-fn'],
                'vfat': ['fsck.fat', '-n'],
                'btrfs': ['btrfs', 'check', '--readonly'],
                'xfs': ['xfs_repair', '-n']}.get(fstype)
        if argv:
            base.run(argv + [device])

    def manifest_of(self, back, device, fstype, start, image, below):
        if fstype == 'vfat':
            return fat_manifest(image, start, self.space.top)
        target = back.mount(device, fstype)
        found = mf.manifest(target, ['lost+found'] + below)
        if os.path.exists(os.path.join(target, 'etc', 'fstab')):
            with open(os.path.join(target, 'etc', 'fstab')) as src:
                self.image_fstab = src.read()
            del found['etc/fstab']          # added by the build
        return found

    def compare_with_tree(self, found):
        for point, (fstype, entries) in sorted(found.items()):
            below = [point.rstrip('/') + '/' + p
                     for p in nested(point, found)]
            expected = mf.part(self.space.manifest, point, below)
            if fstype == 'vfat':
                expected = fat_view(expected)
            else:
                expected = comparable(expected, fstype, point)
                entries = comparable(entries, fstype, point)
            self.assertEqual([], mf.differences(expected, entries),
                             '%s (%s)' % (point, fstype))


def nested(point, points):
    """The mount points below *point*, relative to it."""
    top = point.rstrip('/') + '/'
    return [other[len(top):] for other in points
            if other != point and other.startswith(top)]


def comparable(entries, fstype, point):
    """*entries* with what the README says may differ between the tree,
    the offline image and the kernel path's left out: nanoseconds
    (mke2fs 1.47 and mkfs.btrfs 6.2 keep seconds), xfs times (a
    protofile has none), holes in btrfs and xfs (mkfs.btrfs --rootdir
    and mkfs.xfs -p write them out), the time of btrfs's root folder
    (--rootdir stamps it), the time of the folder the fstab is added
    to."""
    drop = {'.': ('mtime_ns',)} if fstype == 'btrfs' else {}
    if point == '/':
        drop['etc'] = ('mtime_ns',)
    return mf.comparable(entries, times=None if fstype == 'xfs' else 's',
                         holes=fstype not in ('btrfs', 'xfs'), drop=drop)


def fat_view(entries):
    """What FAT keeps of a tree's entries: folders, and files' bytes and
    modification times (in two-second steps)."""
    view = {}
    for path, value in entries.items():
        if path == '.':
            continue
        if value['type'] == 'dir':
            view[path] = {'type': 'dir'}
        else:
            view[path] = {'type': value['type'], 'size': value['size'],
                          'sha256': value['sha256'],
                          'mtime': value['mtime_ns'] // 10 ** 9 // 2 * 2}
    return view


def fat_manifest(image, start, scratch):
    """The FAT filesystem at byte *start* of *image*, read with mtools
    (the host kernel has no vfat): the names mdir lists, and what mcopy
    copies out."""
    env = {'MTOOLS_SKIP_CHECK': '1', 'TZ': 'UTC', 'LANG': 'C.UTF-8'}
    target = '%s@@%d' % (image, start)
    listing = base.sh('mdir', '-i', target, '-/', '-b', '::',
                      env=env).stdout
    names = {line[3:].rstrip('/') for line in listing.splitlines()
             if line.startswith('::/')}
    out = tempfile.mkdtemp(dir=scratch)
    try:
        base.sh('mcopy', '-s', '-m', '-n', '-i', target, '::/*', out,
                env=env)
        copied = fat_view(mf.manifest(out))
    finally:
        shutil.rmtree(out)
    if set(copied) != names:
        raise AssertionError('mdir lists %s, mcopy copied %s' % (
            sorted(names), sorted(copied)))
    return copied


class TestOfflineBuild(OfflineCase):

    def check_layout(self, name, text, label):
        _, image = self.offline(name, text)
        found = self.read_back(image, self.plan(text, '1GiB'))
        self.assertEqual(label, base.sfdisk_json(image)['label'])
        self.assertEqual(['/', '/boot', '/boot/efi', '/var'], sorted(found))
        self.compare_with_tree(found)

    def test_gpt(self):
        self.check_layout('gpt', GPT, 'gpt')

    def test_mbr_with_logical_partitions(self):
        self.check_layout('mbr', MBR, 'dos')

    def test_two_builds_are_byte_identical(self):
        extra = ('--seed', 'offline-test')
        _, first = self.offline('repro-a', REPRO, '512MiB', extra, SEED_ENV)
        _, second = self.offline('repro-b', REPRO, '512MiB', extra,
                                 SEED_ENV)
        self.assertTrue(filecmp.cmp(first, second, shallow=False),
                        'two offline builds differ')


class TestAgainstTheKernelPath(OfflineCase):

    def unpack_as_root(self):
        """The tree as root unpacks it: tar'd in the fakeroot session,
        extracted for real (owners, device nodes, xattrs, holes)."""
        archive = os.path.join(self.space.home, 'tree.tar')
        self.space.in_session(['tar', '--create', '--format=posix',
                               '--xattrs', '--xattrs-include=user.*',
                               '--sparse', '--numeric-owner', '-f', archive,
                               '-C', self.space.tree, '.'])
        real = os.path.join(self.space.top, 'real')
        os.mkdir(real)
        base.run(['tar', '--extract', '--xattrs', '--xattrs-include=user.*',
                  '--numeric-owner', '--same-owner', '--same-permissions',
                  '-f', archive, '-C', real])
        self.assertEqual([], mf.differences(
            mf.comparable(self.space.manifest, times='ns'),
            mf.comparable(mf.manifest(real), times='ns')))
        return real

    def test_same_files_as_the_kernel_path(self):
        _, offline_image = self.offline('k-offline', KERNEL, '1536MiB')
        real = self.unpack_as_root()
        out = os.path.join(self.space.top, 'kernel')
        os.mkdir(out)
        kernel_image = os.path.join(out, 'kernel.raw')
        base.run([sys.executable, '-m', 'diskimage_builder.block_device',
                  'build', '--mode', 'kernel', '--root', real, '--output',
                  kernel_image, '--config', self.config('kernel', KERNEL),
                  '--size', '1536MiB'], cwd=base.REPO)
        plan = self.plan(KERNEL, '1536MiB')
        offline = self.read_back(offline_image, plan)
        kernel = self.read_back(kernel_image, plan)
        self.assertEqual(['/', '/boot', '/srv', '/var'], sorted(offline))
        for point, (fstype, entries) in sorted(kernel.items()):
            self.assertEqual([], mf.differences(
                comparable(entries, fstype, point),
                comparable(offline[point][1], fstype, point)),
                '%s (%s)' % (point, fstype))
        self.compare_with_tree(offline)
        self.compare_with_tree(kernel)


class TestFit(OfflineCase):

    def du(self, path):
        return int(base.run(['du', '-s', '--block-size=1', path])
                   .stdout.split()[0])

    def test_size_auto_holds_the_tree_and_little_more(self):
        _, image = self.offline('fit', FIT, size='auto')
        table = base.sfdisk_json(image)['partitions']
        sizes = [part['size'] * 512 for part in table]
        root = self.du(self.space.tree) - self.du(
            os.path.join(self.space.tree, 'boot'))
        self.assertLessEqual(sizes[2], root * 1.1 + 16 * MIB,
                             'root: %d bytes for %d' % (sizes[2], root))
        fitted = layout('gpt', ESP, BOOT, ROOT, esp_size=sizes[0],
                        boot_size=sizes[1], root_size=sizes[2])
        found = self.read_back(image, self.plan(
            fitted, str(os.path.getsize(image))))
        self.compare_with_tree(found)

    def test_a_max_size_too_small_fails_before_writing(self):
        text = FIT.replace("root\n        size: auto\n", "root\n        "
                           "size: auto\n        max-size: 8MiB\n")
        self.assertIn('max-size', text)
        proc, image = self.offline('small', text, size='auto', check=False)
        self.assertEqual(2, proc.returncode, proc.stderr)
        self.assertIn('more than max-size 8 MiB', proc.stderr)
        self.assertEqual([], os.listdir(os.path.dirname(image)))


class TestRefusals(OfflineCase):
    """What the offline build cannot make: exit 2, one line, nothing
    left (no image, no scratch folder)."""

    def small_tree(self, name, files=(), links=()):
        root = self.space.user_folder('tree-' + name)
        for path in files:
            os.makedirs(os.path.dirname(os.path.join(root, path)),
                        exist_ok=True)
            with open(os.path.join(root, path), 'w') as out:
                out.write(path)
        for kind, target, path in links:
            (os.link if kind == 'hard' else os.symlink)(
                os.path.join(root, target) if kind == 'hard' else target,
                os.path.join(root, path))
        base.run(['chown', '-R', '%d:%d' % (uservenv.USER, uservenv.USER),
                  root])
        return root

    def refused(self, name, text, tree, *words):
        proc, image = self.offline(name, text, session=False, root=tree,
                                   check=False)
        self.assertEqual(2, proc.returncode, proc.stderr)
        errors = [line for line in proc.stderr.splitlines() if line and
                  not LOG_LINE.match(line)]
        self.assertEqual(1, len(errors), proc.stderr)
        for word in words:
            self.assertIn(word, errors[0])
        self.assertEqual([], os.listdir(os.path.dirname(image)))
        return proc.stderr

    def test_lvm_and_crypt_need_device_mapper(self):
        tree = self.small_tree('dm', ['etc/hostname'])
        for name, text in (('lvm', LVM), ('crypt', CRYPT)):
            stderr = self.refused(name, text, tree, name, 'device-mapper')
            # Before anything: not even a log line.
            self.assertEqual(1, len(stderr.splitlines()), stderr)

    def test_fat_holds_no_symlink(self):
        tree = self.small_tree('fat', ['boot/efi/EFI/grub.cfg'],
                               [('soft', 'grub.cfg', 'boot/efi/EFI/link')])
        self.refused('fat', layout('gpt', ESP, ROOT), tree, 'symlinks',
                     'boot/efi/EFI/link')

    def test_an_xfs_protofile_carries_no_hard_link(self):
        tree = self.small_tree('xfs', ['srv/a'], [('hard', 'srv/a',
                                                   'srv/b')])
        self.refused('xfs', layout('gpt', SRV, ROOT), tree, 'hard links',
                     'srv/a')
