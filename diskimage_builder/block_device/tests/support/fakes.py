"""Test doubles shared by the unit tests."""
import os

import fixtures
import testtools

from diskimage_builder.block_device import cli
from diskimage_builder.block_device.runner import CommandError
from diskimage_builder.block_device.runner import Result
from diskimage_builder.block_device.tests.support.harness import Build


class FakeRunner:
    """Plays back an exact list of expected commands.

    Each expectation is (argv, stdout) or (argv, stdout, returncode).  Any
    command that is not the next one expected fails the test at once.
    """

    def __init__(self, expected=(), effects=None):
        self.expected = [self._normal(e) for e in expected]
        # {command name: function(argv, stdout)}: what a command does to
        # a fake host (losetup --detach removes the loop device...).
        self.effects = dict(effects or {})
        self.ran = []
        self.count = 0

    @staticmethod
    def _normal(entry):
        argv, out, *rest = entry if isinstance(entry, tuple) else (entry, '')
        return list(argv), out, rest[0] if rest else 0

    def expect(self, argv, stdout='', returncode=0):
        self.expected.append((list(argv), stdout, returncode))

    def run(self, argv, stdin=None, check=True, env=None):
        argv = [str(a) for a in argv]
        self.ran.append(argv)
        if not self.expected:
            raise AssertionError('unexpected command %r (none expected)'
                                 % argv)
        want, out, returncode = self.expected.pop(0)
        if want != argv:
            raise AssertionError('unexpected command %r, expected %r'
                                 % (argv, want))
        self.count += 1
        if not returncode and argv[0] in self.effects:
            self.effects[argv[0]](argv, out)
        if check and returncode:
            raise CommandError(argv, returncode, out)
        return Result(argv, returncode, out, '')

    def assert_done(self):
        if self.expected:
            raise AssertionError('expected commands never ran: %r'
                                 % [e[0] for e in self.expected])


# A LUKS passphrase and container UUID the tests use.
KEY = 'correct horse battery staple\n'
LUKS_UUID = '6ff1168a-b115-437f-9d9f-703f9c5b6de1'


class RecordingRunner(FakeRunner):
    """A FakeRunner that also keeps what each command got on stdin."""

    def __init__(self, expected=(), kernel=None):
        super().__init__(expected, kernel.effects() if kernel else None)
        self.calls = []

    def run(self, argv, stdin=None, check=True, env=None):
        self.calls.append(([str(a) for a in argv], stdin, env))
        return super().run(argv, stdin=stdin, check=check, env=env)


def blkid(device, fstype, label, fs_uuid):
    return 'DEVNAME=%s\nUUID=%s\nLABEL=%s\nTYPE=%s\n' % (device, fs_uuid,
                                                         label, fstype)


def unmount_commands(target):
    """What releasing a mount runs: commit, trim, unmount."""
    return [['sync', '--file-system', target], ['fstrim', target],
            ['umount', target]]


class TestCase(testtools.TestCase):
    pass


class ValidationCases(TestCase):
    """Runs each (config, expected error) of CASES through ``init``: exit
    2, one error line naming the YAML path, no traceback, nothing made."""

    CASES = []

    def run_init(self, config_text, prepare=None, argv=('init',),
                 **params):
        """Run *argv* (init) on a Build without devices; *prepare(build)*
        may change its files first (bytes, FIFOs...)."""
        build = self.useFixture(Build(config_text, devices=False,
                                      **params))
        if prepare is not None:
            prepare(build)
        stderr = self.useFixture(fixtures.StringStream('stderr'))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr.stream))
        status = cli.main(['--params', build.params_path] + list(argv))
        stderr.stream.flush()
        return status, stderr.getDetails()['stderr'].as_text(), build

    def check_rejected(self, status, err, build, what):
        """Exit 2, one error line, no traceback, nothing made; returns
        the error line."""
        self.assertEqual(2, status, (what, err))
        errors = [line for line in err.splitlines() if 'error:' in line]
        self.assertEqual(1, len(errors), (what, err))
        self.assertNotIn('Traceback', err)
        for key in ('build-dir', 'image-dir'):
            self.assertFalse(os.path.exists(build.folders[key]), what)
        return errors[0]

    def check_each_error(self):
        for text, expected in self.CASES:
            status, err, build = self.run_init(text)
            self.check_rejected(status, err, build, text)
            self.assertIn(expected, err, text)
