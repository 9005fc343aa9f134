"""What makes this package a drop-in for diskimage-builder's layer, and
the deliberate deviations the README lists, without devices."""
import os
import subprocess
import sys

import fixtures
import yaml

from diskimage_builder.block_device import cmd
from diskimage_builder.block_device import config
from diskimage_builder.block_device import getval as getval_mod
from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device.disklabel import layout
from diskimage_builder.block_device.level1 import lvm
from diskimage_builder.block_device.disklabel.layout import Request
from diskimage_builder.block_device.level4 import fstab
from diskimage_builder.block_device.tests.support.compat import PARAMS
from diskimage_builder.block_device.tests.support.fakes import TestCase
from diskimage_builder.block_device.tests.support.fakes import \
    ValidationCases

MIB = 1 << 20


def build(text, **params):
    return config.build(yaml.safe_load(text), dict(PARAMS, **params))


def facts(nodes, name):
    return [n for n in nodes if n.name == name][0].facts


ROOT = """
- local_loop: {name: image0}
- mkfs:
    name: mkfs_root
    base: image0
    mount: {mount_point: /, fstab: {}}
"""


class TestEntryPoints(TestCase):

    def test_the_module_the_main_script_imports(self):
        # diskimage-builder's lib/dib-block-device.py does exactly this.
        self.assertIs(cmd.main, __import__(
            'diskimage_builder.block_device.cmd', fromlist=['main']).main)

    def test_diskimage_builders_plugin_names_resolve_here(self):
        # Its metadata registers lvm as level1.lvm:LVMPlugin.
        self.assertIs(lvm.Lvm, lvm.LVMPlugin)

    def test_a_plugin_registered_twice_for_one_class_counts_once(self):
        class Ext:
            def __init__(self, name, target):
                self.name = name
                self.plugin = target
        fake = [Ext('lvm', lvm.Lvm), Ext('lvm', lvm.LVMPlugin)]
        self.useFixture(fixtures.MonkeyPatch(
            'stevedore.NamedExtensionManager',
            lambda *a, **k: fake))
        self.assertEqual({'lvm': lvm.Lvm}, plugin.load_many(['lvm']))
        fake.append(Ext('lvm', plugin.Plugin))
        err = self.assertRaises(Exception, plugin.load_many, ['lvm'])
        self.assertIn('registered twice', str(err))

    def test_dib_block_device_py_runs_it(self):
        script = ('import sys\nfrom diskimage_builder.block_device.cmd '
                  'import main\nsys.exit(main())\n')
        proc = subprocess.run([sys.executable, '-c', script, 'getval',
                               'root-label'], capture_output=True,
                              text=True, env=dict(
                                  os.environ,
                                  DIB_BLOCK_DEVICE_PARAMS_YAML='/nonexist'))
        self.assertEqual(2, proc.returncode)
        self.assertIn('cannot read the params file', proc.stderr)


class TestDefaults(TestCase):

    def test_root_label_as_disk_image_create_writes_it(self):
        # "root-label: " is null: cloudimg-rootfs, img-rootfs on xfs.
        self.assertEqual('cloudimg-rootfs', facts(build(
            ROOT, **{'root-label': None}), 'mkfs_root')['label'])
        self.assertEqual('img-rootfs', facts(build(
            ROOT, **{'root-label': None, 'root-fs-type': 'xfs'}),
            'mkfs_root')['label'])
        self.assertEqual('img-rootfs', facts(build(
            ROOT, **{'root-label': '', 'root-fs-type': 'xfs'}),
            'mkfs_root')['label'])
        params = dict(PARAMS)
        del params['root-label']
        nodes = config.build(yaml.safe_load(ROOT), params)
        self.assertEqual('mkfs_root', facts(nodes, 'mkfs_root')['label'])

    def test_vfat_labels_are_upper_cased(self):
        nodes = build("""
        - local_loop: {name: image0}
        - mkfs: {base: image0, type: vfat, mount: {mount_point: /efi}}
        """)
        self.assertEqual('MKFS_IMAGE0', facts(nodes, 'mkfs_image0')['label'])

    def test_fstab_defaults(self):
        nodes = build("""
        - local_loop: {name: image0}
        - mkfs:
            base: image0
            type: ext4
            mount: {mount_point: /, fstab: {}}
        - local_loop: {name: image1}
        - mkfs:
            base: image1
            type: swap
            mount: {mount_point: none, fstab: {}}
        - local_loop: {name: image2}
        - mkfs:
            base: image2
            type: swap
            mount:
              mount_point: none
              fstab: {options: 'sw,pri=5'}
        """)
        lines = [n.line(facts(nodes, n.deps[0].replace('mount_', ''))[
            'fstype'], facts(nodes, n.deps[0])['mount_point'], 'LABEL=x')
            for n in nodes if n.kind == 'fstab']
        self.assertEqual(['LABEL=x / ext4 defaults 0 2',
                          'LABEL=x none swap sw 0 0',
                          'LABEL=x none swap sw,pri=5 0 0'], lines)

    def test_fstab_fields_are_escaped(self):
        self.assertEqual('LABEL=mkfs_Root\\040Part /mnt/a\\040b ext4 '
                         'defaults 0 2', fstab.fstab_line(
                             'LABEL=mkfs_Root Part', '/mnt/a b', 'ext4',
                             'defaults', 0, 2))
        self.assertEqual('a\\011b\\012c\\134d', fstab.fstab_field(
            'a\tb\nc\\d'))

    def test_mounts_and_getval_in_diskimage_builders_orders(self):
        nodes = build("""
        - local_loop: {name: image0}
        - partitioning:
            base: image0
            label: gpt
            partitions:
              - {name: var, size: 10MiB,
                 mkfs: {type: ext4, mount: {mount_point: /var}}}
              - {name: swap, size: 10MiB,
                 mkfs: {type: swap, mount: {mount_point: none}}}
              - {name: Root Part, size: 100%,
                 mkfs: {type: ext4, mount: {mount_point: /}}}
        """)
        mounts = [n.facts['mount_point'] for n in nodes if n.kind == 'mount']
        self.assertEqual(['/', '/var', 'none'], mounts)
        values = config.summary(nodes, PARAMS)
        self.assertEqual(['/var', 'none', '/'], values['mount-points'])
        self.assertEqual(['image0', 'var', 'swap', 'Root Part'],
                         values['block-devices'])


class TestGetvalWords(TestCase):

    def test_image_block_devices_spaced_and_quoted(self):
        root = self.useFixture(fixtures.TempDir()).path
        folder = state_mod.state_dir(root)
        os.makedirs(folder, mode=0o700)
        state_mod.write_json(os.path.join(folder, 'config.json'), {
            'version': state_mod.FORMAT_VERSION, 'params': {},
            'nodes': [], 'values': {'level0': ['image0'], 'block-devices':
                                    ['image0', 'boot', 'Root Part']}})
        state = state_mod.State(folder)
        state.record('image0', device='/dev/loop0')
        state.record('boot', device='/dev/loop0p1')
        state.record('Root Part', device='/dev/loop0p2')
        state.save()
        self.assertEqual(" [image0]=/dev/loop0  [boot]=/dev/loop0p1  "
                         "['Root Part']=/dev/loop0p2 ",
                         getval_mod.getval(root, 'image-block-devices'))
        bash = subprocess.run(
            ['bash', '-c', 'declare -A D; eval "D=( $1 )"; '
             'echo "${D[Root Part]}|${D[boot]}"', 'x',
             getval_mod.getval(root, 'image-block-devices')],
            capture_output=True, text=True, check=True)
        self.assertEqual('/dev/loop0p2|/dev/loop0p1\n', bash.stdout)


class TestLayoutDeviations(TestCase):

    def test_last_ebr_link_ends_with_the_disk(self):
        # 64 KiB over whole MiB, as disk-image-create sizes images: the
        # last logical runs to the last sector; diskimage-builder's link
        # to it would end at the next MiB, past the disk.
        disk = 64 * MIB + 64 * 1024
        placed = layout.place('mbr', disk, 512, MIB, [
            Request('a', 8 * MIB), Request('b', '100%')])
        last = placed.partitions[-1]
        self.assertEqual(disk // 512 - 1, last.last_lba)
        self.assertEqual(disk // 512 - 1, last.link_last_lba)
        self.assertEqual(disk // 512 - 1, placed.extended.last_lba)

    def test_align_is_honoured_on_gpt(self):
        placed = layout.place('gpt', 64 * MIB, 512, 4 * MIB, [
            Request('a', 3 * MIB), Request('b', 8 * MIB)])
        self.assertEqual([8192, 16384], [p.first_lba
                                         for p in placed.partitions])


class TestDeviationErrors(ValidationCases):

    LOOP = '- local_loop: {name: image0, size: 64MiB}\n'
    CASES = [
        (LOOP + '- mkfs: {base: image0, type: swap, '
         'label: sixteen-chars-xx}', '[1].mkfs.label: label '
         "'sixteen-chars-xx' is 16 characters; swap allows at most 15"),
        ('- local_loop: {name: image0, size: 1049000}\n',
         '[0].local_loop.size: the image size 1049000 is not a whole '
         'number of 512-byte sectors'),
        (LOOP + '- partitioning: {base: image0, label: gpt, partitions: '
         '[{name: a, size: 512KiB}]}',
         'rounds down to none'),
        (LOOP + '- mkfs: {base: image0, type: ext4, label: "a;b"}',
         '[1].mkfs.label'),
    ]

    def test_each_error(self):
        self.check_each_error()
