"""Config flattening, graph order and validation, without any device."""
import io
import os
import textwrap

import fixtures
import yaml

from diskimage_builder.block_device import cli
from diskimage_builder.block_device import config
from diskimage_builder.block_device.tests.support.compat import PARAMS
from diskimage_builder.block_device.tests.support.compat import \
    compat_configs
from diskimage_builder.block_device.tests.support.compat import compat_path
from diskimage_builder.block_device.tests.support.fakes import TestCase
from diskimage_builder.block_device.tests.support.fakes import ValidationCases


TREE = """
- local_loop:
    name: image0
- partitioning:
    base: image0
    label: mbr
    partitions:
      - name: root
        flags: [boot, primary]
        size: 100%
        mkfs:
          type: ext3
          mount:
            mount_point: /
            fstab:
              options: defaults
              fsck-passno: 1
"""

GRAPH = """
- local_loop:
    name: image0
- partitioning:
    base: image0
    label: mbr
    partitions:
      - name: root
        flags: [boot, primary]
        size: 100%
- mkfs:
    name: mkfs_root
    base: root
    type: ext3
- mount:
    name: mount_mkfs_root
    base: mkfs_root
    mount_point: /
- fstab:
    name: fstab_mount_mkfs_root
    base: mount_mkfs_root
    options: defaults
    fsck-passno: 1
"""


def build(text, **params):
    return config.build(yaml.safe_load(textwrap.dedent(text)),
                        dict(PARAMS, **params))


def shape(nodes):
    return [(n.name, n.plugin, n.kind, n.deps, n.options, n.facts)
            for n in nodes]


class TestFlatten(TestCase):

    def test_tree_and_graph_forms_give_the_same_graph(self):
        self.assertEqual(shape(build(TREE)), shape(build(GRAPH)))

    def test_names_and_order(self):
        nodes = build(TREE)
        self.assertEqual(
            [('image0', []), ('table:image0', ['image0']),
             ('root', ['table:image0']), ('mkfs_root', ['root']),
             ('mount_mkfs_root', ['mkfs_root']),
             ('fstab_mount_mkfs_root', ['mount_mkfs_root'])],
            [(n.name, n.deps) for n in nodes])
        self.assertEqual('[1].partitioning.partitions[0].mkfs.mount',
                         nodes[4].path)

    def test_mounts_parents_first_whatever_the_order(self):
        nodes = build("""
        - local_loop: {name: image0}
        - partitioning:
            base: image0
            label: gpt
            partitions:
              - {name: efi, size: 100MiB, type: EF00,
                 mkfs: {type: ext2, mount: {mount_point: /boot/efi}}}
              - {name: boot, size: 100MiB,
                 mkfs: {type: ext2, mount: {mount_point: /boot/}}}
              - {name: root, size: 100%,
                 mkfs: {type: ext4, mount: {mount_point: /}}}
        """)
        mounts = [n.facts['mount_point'] for n in nodes if n.kind == 'mount']
        self.assertEqual(['/', '/boot', '/boot/efi'], mounts)
        boot = [n for n in nodes if n.name == 'mount_mkfs_boot'][0]
        # Built on its filesystem, mounted after / (ordered, not a base).
        self.assertEqual(['mkfs_boot'], boot.deps)
        self.assertEqual(['mount_mkfs_root'], boot.after)

    def test_root_defaults_from_params(self):
        nodes = build(TREE.replace('type: ext3', 'label: mine'),
                      **{'root-fs-opts': '-i 16384'})
        mkfs = nodes[3]
        self.assertEqual({'fstype': 'ext4', 'label': 'mine',
                          'opts': ['-i', '16384']}, mkfs.facts)
        nodes = build(TREE)
        self.assertEqual('cloudimg-rootfs', nodes[3].facts['label'])

    def test_label_defaults_to_name(self):
        nodes = build(GRAPH.replace('mkfs_root', 'fs1'))
        self.assertEqual('fs1', nodes[3].facts['label'])

    def test_summary(self):
        nodes = build(TREE)
        self.assertEqual({'root-label': 'cloudimg-rootfs',
                          'root-fstype': 'ext3', 'boot-label': '',
                          'mount-points': ['/'],
                          'image-path': '/i/image0.raw',
                          'level0': ['image0'],
                          'block-devices': ['image0', 'root'],
                          'verity': [], 'verity-root': ''},
                         config.summary(nodes, PARAMS))


class TestCompatConfigs(TestCase):

    def test_every_compat_config_is_accepted(self):
        for path in compat_configs():
            with open(path) as src:
                nodes = config.build(yaml.safe_load(src), PARAMS)
            self.assertEqual('image0', nodes[0].name, path)
            values = config.summary(nodes, PARAMS)
            self.assertIn('/', values['mount-points'], path)

    def test_efi_mount_points_and_devices(self):
        with open(compat_path('block-device-efi--default.yaml')) as src:
            nodes = config.build(yaml.safe_load(src), PARAMS)
        values = config.summary(nodes, PARAMS)
        # In config order, as diskimage-builder answers.
        self.assertEqual(['/boot/efi', '/'], values['mount-points'])
        self.assertEqual(['image0', 'ESP', 'BSP', 'root'],
                         values['block-devices'])
        self.assertEqual('vfat', [n for n in nodes if n.name == 'mkfs_ESP'][
            0].facts['fstype'])


class TestValidationErrors(ValidationCases):
    """Each bad config: exit 2, one line naming the YAML path, no
    traceback, and nothing created."""

    CASES = [
        ('- nosuch: {name: x}', "[0].nosuch: unknown plugin 'nosuch'"),
        ('- local_lop: {name: x}', "did you mean 'local_loop'?"),
        ('- local_loop: {name: x, sise: 1G}',
         "[0].local_loop: unknown option 'sise', did you mean 'size'?"),
        ('- local_loop: {size: 1G}',
         "[0].local_loop: 'name' is required but missing"),
        ('- local_loop: {name: x, size: 1Q}',
         "[0].local_loop.size: '1Q' has an unknown unit"),
        ('- local_loop: {name: x, block_size: 1024}',
         '[0].local_loop.block_size: expected one of 512, 4096, got 1024'),
        ('- local_loop: {name: "../etc"}',
         "[0].local_loop.name: '../etc' is not allowed here"),
        ('- local_loop: [1, 2]',
         '[0].local_loop: expected a mapping of options, got a list'),
        ('- {local_loop: {name: a}, mkfs: {}}',
         '[0]: expected a mapping with exactly one key'),
        ('local_loop: {name: a}', 'config: expected a non-empty list'),
        ('- local_loop: {name: a\n', 'config: not valid YAML at line'),
        ('- local_loop: {name: a}\n- local_loop: {name: a}',
         "[1].local_loop.name: duplicate name 'a'"),
        ('- local_loop: {name: a}\n- mkfs: {base: b, type: ext4}',
         "[1].mkfs.base: base 'b' names no node"),
        ('- mkfs: {name: a, base: b, type: ext4}\n'
         '- mkfs: {name: b, base: a, type: ext4}',
         'dependency cycle'),
        ('- local_loop: {name: a}\n- mkfs: {base: a, type: zfs}',
         "[1].mkfs.type: expected one of 'btrfs'"),
        ('- local_loop: {name: a}\n- mkfs: {base: a}',
         '[1].mkfs.type: is required but missing'),
        ('- local_loop: {name: a}\n'
         '- mkfs: {base: a, type: xfs, label: thirteen-long}',
         "[1].mkfs.label: label 'thirteen-long' is 13 characters; xfs "
         "allows at most 12"),
        ('- local_loop: {name: a}\n- local_loop: {name: b}\n'
         '- mkfs: {base: a, type: ext4, label: x}\n'
         '- mkfs: {base: b, type: ext4, label: x}',
         "[3].mkfs.label: label 'x' is also used by mkfs_a"),
        ('- local_loop: {name: a}\n- local_loop: {name: b}\n'
         '- mkfs: {base: a, type: ext4, mount: {mount_point: /x}}\n'
         '- mkfs: {base: b, type: ext4, mount: {mount_point: /x/}}',
         '[3].mkfs.mount.mount_point: mount point /x is also used'),
        ('- local_loop: {name: a}\n'
         '- mkfs: {base: a, type: ext4, mount: {mount_point: x/y}}',
         '[1].mkfs.mount.mount_point: expected an absolute path'),
        ('- local_loop: {name: a}\n'
         '- mkfs: {base: a, type: ext4, mount: {mount_point: /a/../b}}',
         'must not contain ".."'),
        ('- local_loop: {name: a, size: 1GiB}\n'
         '- partitioning: {base: a, label: gpt, partitions: ['
         '{name: p, size: 2GiB}]}',
         '[1].partitioning.partitions[0]: partition p needs 2 GiB but only'),
        ('- local_loop: {name: a}\n'
         '- partitioning: {base: a, label: mbr, partitions: ['
         '{name: p, size: 1M, type: EF00}]}',
         "[1].partitioning.partitions[0].type: expected an MBR type byte"),
        ('- local_loop: {name: a}\n'
         '- partitioning: {base: a, label: gpt, partitions: ['
         '{name: p, size: 1M, type: ZZ00}]}',
         "[1].partitioning.partitions[0].type: expected a GPT type code"),
        ('- local_loop: {name: a}\n'
         '- partitioning: {base: a, label: gpt, partitions: ['
         '{name: p, size: 101%}]}',
         "[1].partitioning.partitions[0].size"),
        ('- local_loop: {name: a}\n'
         '- partitioning: {base: a, label: gpt, partitions: ['
         '{name: p, size: 1M, flags: [bot]}]}',
         "[1].partitioning.partitions[0].flags[0]: expected one of 'boot'"),
        ('- local_loop: {name: a}\n'
         '- partitioning: {base: a, label: gpt, align: 3000, partitions: ['
         '{name: p, size: 1M}]}',
         '[1].partitioning.align: expected a power of two'),
        ('- local_loop: {name: a}\n'
         '- mkfs: {base: a, type: ext4, mount: {mount_point: /, '
         'fstab: {fsck-passno: -1}}}',
         '[1].mkfs.mount.fstab.fsck-passno'),
        ('- local_loop: {name: a}\n- mount: {base: a, mount_point: /}',
         '[1].mount.base: mount needs a filesystem (a mkfs node) as base; '
         'a is a block device'),
    ]

    def test_each_error(self):
        self.check_each_error()

    def test_params_errors(self):
        status, err, _ = self.run_init('- local_loop: {name: a}',
                                       **{'build-dir': 'relative'})
        self.assertEqual(2, status)
        self.assertIn('params.build-dir: expected an absolute path', err)
        status, err, _ = self.run_init('- local_loop: {name: a}',
                                       **{'image-size': 'huge'})
        self.assertIn('params.image-size: ', err)
        status, err, _ = self.run_init('- local_loop: {name: a}', colour='red')
        self.assertIn("params: unknown option 'colour'", err)
        status, err, _ = self.run_init(
            '- local_loop: {name: a}\n- mkfs: {base: a, type: ext4, '
            'mount: {mount_point: /}}', **{'mount-base': None})
        self.assertIn('params.mount-base: is required when anything is '
                      'mounted', err)

    def test_missing_params_file(self):
        stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr))
        self.useFixture(fixtures.EnvironmentVariable(
            'DIB_BLOCK_DEVICE_PARAMS_YAML'))
        self.assertEqual(2, cli.main(['init']))
        self.assertIn('no params file', stderr.getvalue())

    def test_good_config_writes_config_json(self):
        status, err, build = self.run_init(TREE)
        self.assertEqual(0, status, err)
        folder = os.path.join(build.build_dir, 'states', 'block-device')
        self.assertTrue(os.path.exists(os.path.join(folder, 'config.json')))
        self.assertEqual(0o600, os.stat(os.path.join(
            folder, 'config.json')).st_mode & 0o777)
