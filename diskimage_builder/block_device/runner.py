"""The one way this project runs an external command.

Every command is an argv list (never a shell string), logged at INFO as a
line that can be pasted into a shell, and a failure raises
:class:`CommandError` carrying the argv, the exit status and the output.
Secrets travel on stdin only; stdin is never logged.

Two environment switches exist for tests and benchmarks only:

``DIB_BD_COMMAND_LOG=FILE``
    append one JSON line per command: argv, exit status, seconds.
``DIB_BD_FAULT_INJECT=before:N`` or ``after:N``
    SIGKILL this process right before or right after its Nth command, to
    prove that teardown works from the state file alone.
"""
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import time

from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.errors import UsageError

LOG = logging.getLogger(__name__)


class CommandError(BlockDeviceError):
    """An external command that failed, or could not be started."""

    def __init__(self, argv, returncode, output=''):
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output or ''
        super().__init__(self._message())

    def _message(self):
        line = '%s failed' % shlex.join(self.argv)
        if self.returncode is not None:
            line += ' with exit status %d' % self.returncode
        # The first lines are where tools say what went wrong; usage text
        # and progress come after.
        lines = [text.strip() for text in self.output.splitlines()
                 if text.strip()]
        if lines:
            line += ': ' + ' / '.join(lines[:2])
            if len(lines) > 2:
                line += ' (and %d more lines; --debug shows them)' % (
                    len(lines) - 2)
        return line


class Result:
    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self):
        return 'Result(%r, %d)' % (self.argv, self.returncode)


class Runner:
    """Runs commands; nodes get one injected so tests can pass a fake."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0
        self._fault = _parse_fault(os.environ.get('DIB_BD_FAULT_INJECT'))
        self._log_path = os.environ.get('DIB_BD_COMMAND_LOG')

    def run(self, argv, stdin=None, check=True, env=None):
        """Run *argv*; return a :class:`Result` with text stdout/stderr.

        *stdin* (str or bytes) may carry a secret: it is never logged.
        A non-zero exit raises CommandError unless *check* is false.
        """
        argv = [str(arg) for arg in argv]
        self.count += 1
        self._maybe_die('before')
        LOG.info('+ %s', shlex.join(argv))
        data = stdin.encode() if isinstance(stdin, str) else stdin
        # C for output read back; *env* may set another (mtools' names).
        full_env = dict(os.environ, LC_ALL='C')
        full_env.update(env or {})
        start = time.monotonic()
        try:
            proc = subprocess.run(
                argv, input=data, capture_output=True, env=full_env,
                stdin=None if data is not None else subprocess.DEVNULL)
        except FileNotFoundError:
            raise CommandError(argv, None, '%s: command not found' % argv[0])
        took = time.monotonic() - start
        self.seconds += took
        stdout = proc.stdout.decode(errors='replace')
        stderr = proc.stderr.decode(errors='replace')
        self._record(argv, proc.returncode, took)
        for stream in (stdout, stderr):
            if stream.strip():
                LOG.debug('%s', stream.rstrip())
        self._maybe_die('after')
        if check and proc.returncode != 0:
            raise CommandError(argv, proc.returncode, stderr + stdout)
        return Result(argv, proc.returncode, stdout, stderr)

    def _record(self, argv, returncode, seconds):
        if not self._log_path:
            return
        with open(self._log_path, 'a') as log:
            log.write(json.dumps({'argv': argv, 'rc': returncode,
                                  'seconds': round(seconds, 6)}) + '\n')

    def _maybe_die(self, when):
        if self._fault == (when, self.count):
            LOG.warning('fault injection: SIGKILL %s command %d',
                        when, self.count)
            os.kill(os.getpid(), signal.SIGKILL)


def _parse_fault(text):
    """(when, N) of ``before:N`` / ``after:N``; N counts commands from 1.
    Anything else is refused before the first command runs: a typo would
    otherwise make a crash test pass without crashing anything."""
    if not text:
        return None
    match = re.fullmatch(r'(before|after):([1-9][0-9]{0,8})', text)
    if match is None:
        raise UsageError('DIB_BD_FAULT_INJECT: expected before:N or after:N '
                         'with N a command number from 1, got %r' % text)
    return match.group(1), int(match.group(2))
