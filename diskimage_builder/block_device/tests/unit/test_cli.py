"""The command line: getval's fast path and the plain params reader."""
import io
import os

import fixtures
import yaml

from diskimage_builder.block_device import cli
from diskimage_builder.block_device import params_file
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.fakes import TestCase

CONFIG = """
- local_loop: {name: image0}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: boot
        size: 64MiB
        mkfs: {type: ext2, label: BOOT, mount: {mount_point: /boot}}
      - name: root
        size: 100%
        mkfs: {name: mkfs_root, type: ext4, mount: {mount_point: /}}
"""


class TestPlainLine(TestCase):

    def test_plain_lines_read_as_yaml_reads_them(self):
        for line in ('build-dir: /tmp/build dir', 'config: /a/b.yaml  ',
                     'image_size: 2GiB', 'k-1: x=y,z'):
            key, value = params_file.plain_line(line)
            self.assertEqual({key: value}, yaml.safe_load(line), line)

    def test_anything_else_goes_to_yaml(self):
        for line in ('build-dir: "/tmp/x"', "build-dir: '/x'",
                     'build-dir: /x # comment', 'build-dir: [a]',
                     'build-dir: {a: b}', 'build-dir: &anchor /x',
                     'build-dir: *alias', 'build-dir: !!str /x',
                     'build-dir: |', 'build-dir: >', 'build-dir:/x',
                     'build-dir:', 'build-dir: ', 'a b: c', ': x',
                     'build-dir: a:b', 'build-dir: %x', '  build-dir: /x',
                     'build-dir: @x', 'build-dir: `x', 'config:\t/a',
                     'config: /a\t', 'config: /a\x0c'):
            self.assertIsNone(params_file.plain_line(line), line)


class TestGetvalFastPath(TestCase):

    def test_plain_calls(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'DIB_BLOCK_DEVICE_PARAMS_YAML', '/env.yaml'))
        self.assertEqual(('/p.yaml', 'root-label'), cli.plain_getval(
            ['--params', '/p.yaml', 'getval', 'root-label']))
        self.assertEqual(('/env.yaml', 'image-path'),
                         cli.plain_getval(['getval', 'image-path']))

    def test_anything_else_goes_to_argparse(self):
        for argv in (['--debug', 'getval', 'x'], ['getval'],
                     ['getval', '--help'], ['getval', 'a', 'b'],
                     ['--params', 'p', 'init'], ['create', 'x'],
                     ['getval', '']):
            self.assertIsNone(cli.plain_getval(argv), argv)

    def run_main(self, argv):
        out, err = io.StringIO(), io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', out))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err))
        return cli.main(argv), out.getvalue(), err.getvalue()

    def test_same_answers_as_the_full_command_line(self):
        build = self.useFixture(Build(CONFIG, devices=False,
                                      **{'image-size': '1GiB'}))
        self.assertEqual(0, self.run_main(['--params', build.params_path,
                                           'init'])[0])
        for key in ('root-label', 'boot-label', 'mount-points',
                    'image-path', 'nonsense'):
            fast = self.run_main(['--params', build.params_path, 'getval',
                                  key])
            full = self.run_main(['--params', build.params_path, '--debug',
                                  'getval', key])
            self.assertEqual(full, fast, key)
        self.assertEqual((0, 'BOOT\n', ''), self.run_main(
            ['--params', build.params_path, 'getval', 'boot-label']))
        status, _, err = self.run_main(['--params', build.params_path,
                                        'getval', 'nonsense'])
        self.assertEqual(2, status)
        self.assertIn("dib-block-device getval: error: getval: unknown key "
                      "'nonsense'", err)

    def test_errors_exit_like_the_full_command_line(self):
        missing = os.path.join(self.useFixture(fixtures.TempDir()).path,
                               'none.yaml')
        fast = self.run_main(['--params', missing, 'getval', 'root-label'])
        self.assertEqual(2, fast[0])
        self.assertIn('cannot read the params file', fast[2])


class TestUmask(TestCase):
    """Under umask 000 every folder and file create makes would be
    writable by all, and the next phase would refuse the build (trust):
    the command line sets a sane umask first (the host tier runs a whole
    build under umask 000)."""

    def main_under(self, umask):
        old = os.umask(umask)
        self.addCleanup(os.umask, old)
        build = self.useFixture(Build(CONFIG, devices=False))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', io.StringIO()))
        self.assertEqual(0, cli.main(['--params', build.params_path,
                                      'init']))
        now = os.umask(0o022)
        os.umask(now)
        return now, build

    def test_umask_000_becomes_022(self):
        now, build = self.main_under(0)
        self.assertEqual(0o022, now)
        for folder in (build.build_dir,
                       os.path.join(build.build_dir, 'states'),
                       os.path.join(build.build_dir, 'states',
                                    'block-device')):
            self.assertFalse(os.stat(folder).st_mode & 0o022, folder)
        # A later phase accepts what init made.
        out = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', out))
        self.assertEqual(0, cli.main(['--params', build.params_path,
                                      '--debug', 'getval', 'root-label']))
        self.assertEqual('cloudimg-rootfs\n', out.getvalue())

    def test_a_stricter_umask_is_kept(self):
        self.assertEqual(0o077, self.main_under(0o077)[0])
        self.assertEqual(0o027, self.main_under(0o007)[0])


class TestReadmeNamesEveryCommand(TestCase):
    """The command table is the one source of subcommands and options:
    README.rst's "The phases" must name each of them."""

    def phases_section(self):
        from diskimage_builder.block_device.tests.support.compat import REPO
        with open(os.path.join(REPO, 'README.rst')) as readme:
            text = readme.read()
        start = text.index('\nThe phases\n')
        return text[start:text.index('\nCrash safety and parallel builds\n')]

    def test_every_subcommand_and_option_is_documented(self):
        section = self.phases_section()
        missing = []
        for name, _, options in cli.COMMANDS:
            if '``%s' % name not in section:
                missing.append(name)
            missing += ['%s %s' % (name, flag) for flags, _ in options
                        for flag in flags
                        if flag.startswith('--') and flag not in section]
        self.assertEqual([], missing)

    def test_the_parser_is_the_table(self):
        actions = cli.parser()._subparsers._group_actions[0].choices
        self.assertEqual(list(cli.PHASES), list(actions))
        for name, _, options in cli.COMMANDS:
            flags = {flag for action in actions[name]._actions
                     for flag in action.option_strings}
            self.assertEqual({flag for option, _ in options
                              for flag in option if flag.startswith('--')},
                             flags - {'-h', '--help'})
