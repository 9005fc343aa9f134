"""A corpus of broken inputs: each is refused with exit status 2, one
error line naming where in the YAML (or params) the problem is, no
traceback, and nothing created.  Plus generated configs (hypothesis)."""
import os

import fixtures
import hypothesis
from hypothesis import strategies as st
import yaml

from diskimage_builder.block_device import cli
from diskimage_builder.block_device import config
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.tests.support.fakes import TempBuild
from diskimage_builder.block_device.tests.support.fakes import TestCase
from diskimage_builder.block_device.tests.support.fakes import ValidationCases

LOOP = '- local_loop: {name: image0, size: 1GiB}\n'


def part(partition, label='gpt'):
    return (LOOP + '- partitioning: {base: image0, label: %s, partitions: '
            '[%s]}\n' % (label, partition))


def fs(extra, fstype='ext4'):
    return LOOP + '- mkfs: {base: image0, type: %s, %s}\n' % (fstype, extra)


CONFIGS = [
    # malformed YAML and wrong shapes
    ('- local_loop: {name: a', 'config: not valid YAML'),
    ('- local_loop:\n  name: a\n   size: 1G', 'config: not valid YAML'),
    ('"\\xZZ"', 'config: not valid YAML'),
    ('', 'config: expected a non-empty list'),
    ('[]', 'config: expected a non-empty list'),
    ('42', 'config: expected a non-empty list'),
    ('{local_loop: {name: a}}', 'config: expected a non-empty list'),
    ('- 42', '[0]: expected a mapping with exactly one key'),
    ('- [local_loop]', '[0]: expected a mapping with exactly one key'),
    ('- {}', '[0]: expected a mapping with exactly one key'),
    ('- local_loop: null', '[0].local_loop: expected a mapping'),
    ('- local_loop: "image0"', '[0].local_loop: expected a mapping'),
    ('- local_loop: {name: a}\n- null', '[1]: expected a mapping'),
    # unknown plugins and keys
    ('- lokal_loop: {name: a}', "[0].lokal_loop: unknown plugin"),
    ('- "rm -rf /": {name: a}', "[0].rm -rf /: unknown plugin"),
    ('- local_loop: {name: a, nmae: b}', "unknown option 'nmae'"),
    ('- local_loop: {name: a, Size: 1G}', "unknown option 'Size'"),
    (LOOP + '- mkfs: {base: image0, type: ext4, lable: x}',
     "[1].mkfs: unknown option 'lable', did you mean 'label'?"),
    (part('{name: p, size: 1M, szie: 2M}'),
     "[1].partitioning.partitions[0]: unknown option 'szie'"),
    (LOOP + '- mount: {base: image0, mount_point: /, options: ro}',
     "[1].mount: unknown option 'options'"),
    # wrong types everywhere
    ('- local_loop: {name: 42}', '[0].local_loop.name: expected a string'),
    ('- local_loop: {name: [a]}', '[0].local_loop.name: expected a string'),
    ('- local_loop: {name: a, size: [1]}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: true}', '[0].local_loop.size'),
    ('- local_loop: {name: a, directory: 7}', '[0].local_loop.directory'),
    ('- local_loop: {name: a, block_size: "4096"}',
     '[0].local_loop.block_size'),
    (part('{name: p, size: 1M, flags: boot}'),
     '[1].partitioning.partitions[0].flags: expected a list'),
    (part('{name: p, size: 1M, type: 0x83}', 'mbr'),
     '[1].partitioning.partitions[0].type'),
    (LOOP + '- partitioning: {base: image0, label: gpt, partitions: {}}',
     '[1].partitioning.partitions: expected a list'),
    (LOOP + '- partitioning: {base: image0, label: gpt, partitions: []}',
     '[1].partitioning.partitions'),
    (LOOP + '- partitioning: {base: image0, label: dos, partitions: '
     '[{name: p, size: 1M}]}', "[1].partitioning.label: expected one of"),
    (fs('opts: 42'), '[1].mkfs.opts'),
    (LOOP + '- mkfs: {base: image0, type: ext4, mount: {mount_point: 5}}',
     '[1].mkfs.mount.mount_point: expected a string'),
    (LOOP + '- mkfs: {base: image0, type: ext4, mount: {mount_point: /, '
     'fstab: {dump-freq: "0"}}}', '[1].mkfs.mount.fstab.dump-freq'),
    (LOOP + '- mkfs: {base: image0, type: ext4, mount: {mount_point: /, '
     'fstab: {options: "rw, noatime"}}}', '[1].mkfs.mount.fstab.options'),
    # huge, negative and malformed sizes
    ('- local_loop: {name: a, size: -1}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: "-1GiB"}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: 99999999999999999999999}',
     '[0].local_loop.size: size'),
    ('- local_loop: {name: a, size: 9999999PiB}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: 1.5.5G}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: 12 parsecs}', '[0].local_loop.size'),
    ('- local_loop: {name: a, size: 100}', '[0].local_loop.size: the '
     'image size 100 is not a whole number'),
    (part('{name: p, size: 0%}'), '[1].partitioning.partitions[0].size'),
    (part('{name: p, size: 150%}'), '[1].partitioning.partitions[0].size'),
    (part('{name: p, size: 2TiB}'),
     '[1].partitioning.partitions[0]: partition p needs 2 TiB'),
    (part('{name: p, size: 600MiB}, {name: q, size: 600MiB}'),
     '[1].partitioning.partitions[1]: partition q needs'),
    (LOOP + '- partitioning: {base: image0, label: gpt, align: 1000, '
     'partitions: [{name: p, size: 1M}]}', '[1].partitioning.align'),
    (fs('label: big', 'xfs').replace('1GiB', '100MiB'),
     '[1].mkfs: xfs needs at least 300 MiB'),
    # unicode and shell metacharacters in names and labels
    ('- local_loop: {name: "imäge"}', '[0].local_loop.name'),
    ('- local_loop: {name: "a;reboot"}', '[0].local_loop.name'),
    ('- local_loop: {name: "$(id)"}', '[0].local_loop.name'),
    ('- local_loop: {name: "a b"}', '[0].local_loop.name'),
    ('- local_loop: {name: "a\\nb"}', '[0].local_loop.name'),
    ('- local_loop: {name: ""}', '[0].local_loop.name'),
    ('- local_loop: {name: "%s"}' % ('x' * 65), '[0].local_loop.name'),
    (fs('label: "róot"'), '[1].mkfs.label'),
    (fs('label: "a`b`"'), '[1].mkfs.label'),
    (fs('label: " x"'), '[1].mkfs.label'),
    (fs('label: "very-long-label-x"'), '[1].mkfs.label: label'),
    (fs('uuid: "not-a-uuid"'), '[1].mkfs.uuid: not a valid ext4 uuid'),
    (fs('uuid: "1234-ABCD"'), '[1].mkfs.uuid'),
    # names that would escape into /dev, the mapper namespace or files
    ('- local_loop: {name: "../../etc/passwd"}', '[0].local_loop.name'),
    ('- local_loop: {name: "/dev/sda"}', '[0].local_loop.name'),
    ('- local_loop: {name: ".."}', '[0].local_loop.name'),
    ('- local_loop: {name: "-rf"}', '[0].local_loop.name'),
    ('- local_loop: {name: "mapper/x"}', '[0].local_loop.name'),
    (part('{name: "p\\nq", size: 1MiB}'),
     '[1].partitioning.partitions[0].name'),
    # mount points
    (fs('mount: {mount_point: relative}'),
     '[1].mkfs.mount.mount_point: expected an absolute path'),
    (fs('mount: {mount_point: /../etc}'), 'must not contain ".."'),
    (fs('mount: {mount_point: /a/../../b}'), 'must not contain ".."'),
    (fs('mount: {mount_point: ""}'), '[1].mkfs.mount.mount_point'),
    (fs('mount: {mount_point: none}'),
     '[1].mkfs.mount.mount_point: swap takes mount_point "none"'),
    (fs('mount: {mount_point: /}', 'swap'),
     '[1].mkfs.mount.mount_point: swap takes'),
    # graph errors
    (LOOP + '- mkfs: {base: image1, type: ext4}', "[1].mkfs.base: base "
     "'image1' names no node"),
    (LOOP + '- mkfs: {name: image0, base: image0, type: ext4}',
     "duplicate name 'image0'"),
    (LOOP + '- mkfs: {name: a, base: a, type: ext4}', 'dependency cycle'),
    (LOOP + '- mount: {base: image0, mount_point: /}',
     '[1].mount.base: a mount needs a mkfs node'),
    (LOOP + '- fstab: {base: image0}', '[1].fstab.base: fstab needs a '
     'mount node'),
    (LOOP + '- partitioning: {base: image0, label: gpt, partitions: '
     '[{name: p, size: 1M, base: other}]}',
     "[1].partitioning.partitions[0].base: a partition lives on"),
    (LOOP + '- partitioning: {base: image0, label: mbr, partitions: [' +
     ', '.join('{name: p%d, size: 1M, flags: [primary]}' % i
               for i in range(5)) + ']}',
     '[1].partitioning.partitions[4]: MBR holds at most 4 primary'),
    (part('{name: p, size: 1M, part-name: x}', 'mbr'),
     '[1].partitioning.partitions[0].part-name: is a GPT option'),
]

PARAMS = [
    ({'build-dir': None}, "params: 'build-dir' is required but missing"),
    ({'build-dir': 'relative/dir'}, 'params.build-dir: expected an absolute'),
    ({'image-size': '-5G'}, 'params.image-size'),
    ({'image-size': [1]}, 'params.image-size'),
    ({'image-dir': 3}, 'params.image-dir'),
    ({'mount-base': 'mnt'}, 'params.mount-base: expected an absolute'),
    ({'root-fs-type': 'zfs'}, "[1].mkfs.type: no type here and params "
     "root-fs-type is 'zfs'"),
    ({'colour': 'blue'}, "params: unknown option 'colour'"),
    ({'config': None}, 'params.config: missing'),
]


class TestCorpus(ValidationCases):

    def test_config_corpus(self):
        for text, expected in CONFIGS:
            status, err, build = self.run_init(text)
            line = self.check_rejected(status, err, build, text)
            self.assertIn(expected, line, text)

    def test_params_corpus(self):
        root_config = LOOP + '- mkfs: {name: mkfs_root, base: image0}\n'
        for params, expected in PARAMS:
            status, err, build = self.run_init(root_config, **params)
            line = self.check_rejected(status, err, build, params)
            self.assertIn(expected, line, params)

    def test_a_config_that_points_at_itself(self):
        build = self.useFixture(TempBuild(''))
        with open(build.config_path, 'w') as out:
            out.write('config: %s\n' % build.config_path)
        status, err, _ = self.run_init(open(build.config_path).read())
        self.assertEqual(2, status)
        self.assertIn('config: expected a non-empty list', err)

    def test_params_file_that_is_not_a_mapping(self):
        build = self.useFixture(TempBuild(LOOP))
        with open(build.params_path, 'w') as out:
            out.write('- just\n- a list\n')
        stderr = self.useFixture(fixtures.StringStream('stderr'))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr.stream))
        self.assertEqual(2, cli.main(['--params', build.params_path,
                                      'init']))
        stderr.stream.flush()
        self.assertIn('params: expected a mapping',
                      stderr.getDetails()['stderr'].as_text())

    def test_corpus_size(self):
        total = len(CONFIGS) + len(PARAMS) + 2
        print('%d bad inputs rejected cleanly' % total)
        self.assertGreaterEqual(total, 60)


# -- generated configs ---------------------------------------------------
PLUGINS = ['local_loop', 'partitioning', 'mkfs', 'mount', 'fstab',
           'lvm', 'crypt', 'mdraid', 'bogus']
KEYS = ['name', 'base', 'size', 'type', 'label', 'mount_point', 'options',
        'partitions', 'flags', 'opts', 'uuid', 'block_size', 'directory',
        'align', 'pvs', 'vgs', 'lvs', 'level', 'fsck-passno', 'spec', 'x']
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
    st.floats(allow_nan=True), st.text(max_size=12),
    st.sampled_from(['image0', 'root', '1GiB', '100%', '50%', '-1', '/',
                     '/boot', '../x', 'ext4', 'xfs', 'vfat', 'gpt', 'mbr',
                     'EF00', '83', 'none', '$(id)', 'a b', 'ünï']))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=8)
entries = st.builds(lambda plugin, options: {plugin: options},
                    st.sampled_from(PLUGINS),
                    st.one_of(values, st.dictionaries(
                        st.sampled_from(KEYS + PLUGINS), values,
                        max_size=5)))
configs = st.lists(entries, max_size=5)


class TestGenerated(TestCase):

    @hypothesis.settings(max_examples=300, deadline=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(configs)
    def test_never_a_traceback(self, items):
        params = {'build-dir': '/nonexistent/b', 'image-dir': '/i',
                  'mount-base': '/m', 'root-fs-type': 'ext4'}
        try:
            config.build(items, params)
        except ConfigError as err:
            self.assertTrue(str(err))

    @hypothesis.settings(max_examples=40, deadline=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(configs)
    def test_rejection_has_no_side_effect(self, items):
        text = yaml.safe_dump(items)
        build = TempBuild(text)
        build.setUp()
        try:
            stderr = fixtures.StringStream('stderr')
            stderr.setUp()
            patch = fixtures.MonkeyPatch('sys.stderr', stderr.stream)
            patch.setUp()
            try:
                status = cli.main(['--params', build.params_path, 'init'])
            finally:
                patch.cleanUp()
            stderr.stream.flush()
            err = stderr.getDetails()['stderr'].as_text()
            stderr.cleanUp()
            self.assertIn(status, (0, 2), err)
            self.assertNotIn('Traceback', err)
            if status == 2:
                self.assertFalse(os.path.exists(build.build_dir))
            self.assertFalse(os.path.exists(build.image_dir))
        finally:
            build.cleanUp()
