"""The one build harness of every tier and of bench/: a build folder with
its params and config files, each phase run as the image builder runs it
(``python -m diskimage_builder.block_device`` in a fresh process), the
command log the phases append to, and what the state says.

Layout below *root* (diskimage-builder's, with the mount base inside the
build folder)::

    config.yaml  params.yaml  commands.jsonl
    build/            build-dir (build/built/etc when *devices*)
    build/mnt/        mount-base
    images/           image-dir

The unit tier runs phases in-process on a fake host and passes
``devices=False``: nothing is made beyond the two files, and nothing is
released at cleanup.  The host tier uses Build as a fixture; the VM tier
and the benchmarks give a *root* and call :meth:`Build.prepare`.
"""
import json
import os
import subprocess
import sys
import textwrap
import time

import fixtures
import testtools
import yaml

from diskimage_builder.block_device.host import HOST
from diskimage_builder.block_device.tests.support import commands
from diskimage_builder.block_device.tests.support import hosttools
from diskimage_builder.block_device.tests.support.compat import REPO

PYTHON_M = (sys.executable, '-m', 'diskimage_builder.block_device')
# What every build gets unless the test says otherwise (None drops one).
DEFAULT_PARAMS = {'root-fs-type': 'ext4', 'root-label': 'cloudimg-rootfs'}


def run(argv, check=True, input=None, env=None, cwd=None, timeout=600):
    """Run *argv* (*env* is the whole environment, as subprocess takes
    it); the CompletedProcess, its output as text.  With *check*, a
    non-zero exit is an AssertionError showing both outputs."""
    argv = [str(a) for a in argv]
    if argv[0] == sys.executable:
        env = checkout_env(env)
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run(argv, input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, cwd=cwd,
                          timeout=timeout)
    proc.stdout = proc.stdout.decode(errors='replace')
    proc.stderr = proc.stderr.decode(errors='replace')
    if check and proc.returncode:
        raise AssertionError('%s exited %d\nstdout: %s\nstderr: %s' % (
            ' '.join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc


def checkout_env(env=None):
    """*env* (default: this process's) with this checkout first on the
    module path: this interpreter runs the code under test, whatever
    ``pip install -e`` last pointed the installed package at."""
    env = dict(os.environ if env is None else env)
    path = env.get('PYTHONPATH')
    env['PYTHONPATH'] = REPO + (os.pathsep + path if path else '')
    return env


def sh(*cmd, input=None, check=True, env=None, timeout=600):
    """run(), for a command given word by word; *env* is added to this
    process's environment."""
    return run(cmd, check=check, input=input, timeout=timeout,
               env=dict(os.environ, **(env or {})))


def out(*cmd, **kwargs):
    return sh(*cmd, **kwargs).stdout


class Build(fixtures.Fixture):
    """One build: its folders, params and config, its phases.

    *config_text* is dedented; *params* override the defaults (a value
    of None leaves the key out).  *devices*: phases attach real devices,
    so make the harness's build/built/etc as the image builder has it
    and, when used as a fixture, release at cleanup whatever a failing
    test left.  *command*
    runs a phase instead of ``python -m`` (the benchmarks time the console
    script).
    """

    def __init__(self, config_text, /, root=None, image_size=None,
                 devices=True, command=PYTHON_M, **params):
        self.config = textwrap.dedent(config_text)
        self.root = None if root is None else str(root)
        self.devices = devices
        self.command = list(command)
        self.extra = dict(params)
        if image_size is not None:
            self.extra.setdefault('image-size', image_size)
        self.timings = []

    def _setUp(self):
        if self.root is None:
            scratch = os.environ.get('DIB_VM_SCRATCH') or None
            self.root = self.useFixture(fixtures.TempDir(
                rootdir=scratch)).path
        self.prepare()
        if self.devices:
            self.addCleanup(self._last_resort)

    def prepare(self):
        """Write the config and params files (and built/etc); returns the
        build."""
        os.makedirs(self.root, exist_ok=True)
        build_dir = os.path.join(self.root, 'build')
        # The harness's own folders; the attributes below name the ones
        # the params give (a test may point one elsewhere, or drop it).
        self.folders = {'build-dir': build_dir,
                        'image-dir': os.path.join(self.root, 'images'),
                        'mount-base': os.path.join(build_dir, 'mnt')}
        params = dict(self.folders, **DEFAULT_PARAMS)
        params.update(self.extra)
        self.config_path = os.path.join(self.root, 'config.yaml')
        params.setdefault('config', self.config_path)
        self.params = {k: v for k, v in params.items() if v is not None}
        chosen = {key: self.params.get(key) for key in self.folders}
        chosen = {key: value if isinstance(value, str) else
                  self.folders[key] for key, value in chosen.items()}
        self.build_dir = chosen['build-dir']
        self.image_dir = chosen['image-dir']
        self.mount_base = chosen['mount-base']
        self.params_path = os.path.join(self.root, 'params.yaml')
        self.command_log = os.path.join(self.root, 'commands.jsonl')
        with open(self.config_path, 'w') as dst:
            dst.write(self.config)
        with open(self.params_path, 'w') as dst:
            yaml.safe_dump(self.params, dst)
        if self.devices:
            os.makedirs(os.path.join(self.folders['build-dir'], 'built',
                                     'etc'), exist_ok=True)
        return self

    # -- phases ---------------------------------------------------------
    def phase(self, *args, check=True, env=None, debug=False):
        """Run one phase in a fresh process; *args* are the phase and its
        words (``cleanup --from-system``).  Its commands are appended to
        the command log; its wall time to :attr:`timings`."""
        full_env = dict(os.environ, DIB_BD_COMMAND_LOG=self.command_log)
        full_env.update(env or {})
        argv = self.command + ['--params', self.params_path]
        argv += ['--debug'] if debug else []
        start = time.monotonic()
        try:
            return run(argv + list(args), check=check, env=full_env,
                       cwd=REPO)
        finally:
            self.timings.append((args[0], time.monotonic() - start))

    def phases(self, *names, env=None):
        return [self.phase(name, env=env) for name in names]

    def getval(self, key):
        return self.phase('getval', key).stdout.rstrip('\n')

    def create_as_planned(self, env=None):
        """plan, init and create; assert create ran exactly the commands
        plan listed (the command log then holds create's only).  Returns
        the plan."""
        plan = json.loads(self.phase('plan', '--format', 'json',
                                     env=env).stdout)
        self.phase('init', env=env)
        if os.path.exists(self.command_log):
            os.unlink(self.command_log)
        self.phase('create', env=env)
        ran = self.commands()
        if not ran:
            raise AssertionError('create ran no command')
        problems = commands.compare_commands(plan['commands'], ran)
        if problems:
            raise AssertionError('\n'.join(problems))
        return plan

    # -- what the phases left -------------------------------------------
    def log(self):
        """Every entry of the command log: {argv, rc, seconds, ...}."""
        try:
            with open(self.command_log) as src:
                return [json.loads(line) for line in src]
        except FileNotFoundError:
            return []

    def commands(self):
        """The argv of every command the phases ran, in order."""
        return [entry['argv'] for entry in self.log()]

    def report(self):
        """Where the time went, for a test's captured output."""
        lines = ['%-10s %7.1fs' % item for item in self.timings]
        lines += ['  %6.1fs rc=%s %s' % (e['seconds'], e['rc'],
                                         ' '.join(e['argv']))
                  for e in self.log()]
        return '\n'.join(lines)

    @property
    def state_folder(self):
        return os.path.join(self.build_dir, 'states', 'block-device')

    def state(self):
        with open(os.path.join(self.state_folder, 'state.json')) as src:
            return json.load(src)

    def results(self, node):
        return self.state()['results'].get(node, {})

    def image(self, name='image0'):
        return os.path.join(self.image_dir, name + '.raw')

    def built(self, *parts):
        """The text of a file ``writefstab`` wrote below built/."""
        with open(os.path.join(self.build_dir, 'built', *parts)) as src:
            return src.read()

    # -- release --------------------------------------------------------
    def release(self):
        """What a failed test left, released: the report first, then
        mounts below the mount base, then the tool's own cleanup when
        the state holds anything."""
        print(self.report())
        for target in reversed(HOST.mounts_below(self.mount_base)):
            run(['umount', target], check=False)
        if os.path.exists(os.path.join(self.state_folder, 'state.json')):
            self.phase('cleanup', check=False)

    def _last_resort(self):
        # A failing test must not leak devices into the next one.
        self.phase('delete', check=False)
        for line in run(['losetup', '-ln', '-O', 'NAME,BACK-FILE'],
                        check=False).stdout.splitlines():
            name, _, backing = line.partition(' ')
            if backing.strip().startswith(self.root):
                run(['losetup', '-d', name], check=False)


# -- the host tier ------------------------------------------------------------

# Host tools the host tier runs, and the Debian package of each.
HOST_TOOLS = {'losetup': 'mount', 'sfdisk': 'fdisk', 'blkid': 'util-linux',
              'partx': 'util-linux', 'mkfs.ext4': 'e2fsprogs'}


def why_no_loop_devices():
    """None when this process can attach loop devices, else why not."""
    if os.geteuid() != 0:
        return 'needs root (loop devices, mount)'
    if not os.path.exists('/dev/loop-control'):
        return 'no /dev/loop-control: this kernel or container has no loop'
    return None


class FunctionalTestCase(testtools.TestCase):
    """A host-tier test: skipped where loop devices cannot be had (not
    root, no loop driver), failed where a tool it runs is missing."""

    def setUp(self):
        super().setUp()
        reason = why_no_loop_devices()
        if reason:
            self.skipTest('%s: run the host tier as root '
                          '(tools/run-tests --tier host)' % reason)
        missing = hosttools.missing(HOST_TOOLS)
        if missing:
            self.fail(missing)


def sfdisk_json(image):
    out = run(['sfdisk', '--json', image]).stdout
    return json.loads(out)['partitiontable']


class ReadBack(fixtures.Fixture):
    """Attach an image afresh, read-only, as another machine would."""

    def __init__(self, image, sector_size=512):
        self.image = image
        self.sector_size = sector_size

    def _setUp(self):
        argv = ['losetup', '--find', '--show', '--partscan', '--read-only']
        if self.sector_size != 512:
            argv += ['--sector-size', str(self.sector_size)]
        self.device = run(argv + [self.image]).stdout.strip()
        self.addCleanup(run, ['losetup', '-d', self.device], check=False)
        # Kernels without a partition parser (this CI host) register
        # nothing by themselves: partx tells them, as it would in a
        # container.
        run(['partx', '--add', self.device], check=False)
        self.mounts = []

    def partition(self, number):
        name = os.path.basename(self.device)
        return '/dev/%sp%d' % (name, number)

    def blkid(self, device):
        out = run(['blkid', '-p', '-o', 'export', device]).stdout
        return dict(line.split('=', 1) for line in out.splitlines())

    def mount(self, device, fstype):
        target = self.useFixture(fixtures.TempDir()).path
        run(['mount', '-o', 'ro', '-t', fstype, device, target])
        self.addCleanup(run, ['umount', target], check=False)
        return target
