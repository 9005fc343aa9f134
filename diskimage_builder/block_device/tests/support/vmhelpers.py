"""Shared helpers of the VM-tier tests: shell commands, a build folder
driven through the real command line, and what the kernel still holds.

Each test module keeps its own fixtures; these are plain functions and
one class, so modules can share them without sharing state.
"""
import json
import os
import subprocess
import sys
import time

import yaml

from diskimage_builder.block_device.host import HOST
from diskimage_builder.block_device.tests.support import commands


def sh(*cmd, input=None, check=True, env=None, timeout=600):
    """Run *cmd*; return the CompletedProcess with text output."""
    full_env = dict(os.environ, **(env or {}))
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run([str(c) for c in cmd], input=data,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=full_env, timeout=timeout)
    proc.stdout = proc.stdout.decode(errors='replace')
    proc.stderr = proc.stderr.decode(errors='replace')
    if check and proc.returncode != 0:
        raise AssertionError('%s exited %d\nstdout: %s\nstderr: %s' % (
            ' '.join(str(c) for c in cmd), proc.returncode, proc.stdout,
            proc.stderr))
    return proc


def out(*cmd, **kwargs):
    return sh(*cmd, **kwargs).stdout


class Build:
    """A build folder with its params and config files, and the CLI.

    *root* holds ``build/`` (the build dir), ``images/`` and ``mnt/``.
    """

    def __init__(self, root, config_text, **params):
        self.root = str(root)
        self.build_dir = os.path.join(self.root, 'build')
        self.image_dir = os.path.join(self.root, 'images')
        self.mount_base = os.path.join(self.root, 'mnt')
        self.config_path = os.path.join(self.root, 'config.yaml')
        self.params_path = os.path.join(self.root, 'params.yaml')
        # Every phase appends its commands here (argv, status, seconds).
        self.command_log = os.path.join(self.root, 'commands.jsonl')
        os.makedirs(self.root, exist_ok=True)
        with open(self.config_path, 'w') as dst:
            dst.write(config_text)
        values = {'config': self.config_path, 'build-dir': self.build_dir,
                  'image-dir': self.image_dir,
                  'mount-base': self.mount_base, 'root-fs-type': 'ext4',
                  'root-label': 'cloudimg-rootfs'}
        values.update(params)
        self.timings = []
        with open(self.params_path, 'w') as dst:
            yaml.safe_dump(values, dst)

    def phase(self, name, *args, env=None, check=True, debug=False):
        """Run one phase in a fresh process, as the image builder does;
        *args* follow the phase name (``cleanup --from-system``)."""
        cmd = [sys.executable, '-m', 'diskimage_builder.block_device',
               '--params', self.params_path]
        if debug:
            cmd.append('--debug')
        env = dict({'DIB_BD_COMMAND_LOG': self.command_log}, **(env or {}))
        start = time.monotonic()
        try:
            return sh(*cmd, name, *args, env=env, check=check)
        finally:
            self.timings.append((name, time.monotonic() - start))

    def commands(self):
        """[(argv, status, seconds)] of every command the phases ran."""
        try:
            with open(self.command_log) as src:
                return [(e['argv'], e['rc'], e['seconds'])
                        for e in map(json.loads, src)]
        except FileNotFoundError:
            return []

    def report(self):
        """Where the time went, for the test's captured output."""
        lines = ['%-10s %7.1fs' % item for item in self.timings]
        lines += ['  %6.1fs rc=%s %s' % (secs, rc, ' '.join(argv))
                  for argv, rc, secs in self.commands()]
        return '\n'.join(lines)

    def phases(self, *names, env=None):
        return [self.phase(name, env=env) for name in names]

    def create_as_planned(self, env=None):
        """plan, init, create; assert create ran exactly the commands plan
        listed (the command log holds create's commands only after)."""
        plan = json.loads(self.phase('plan', '--format', 'json',
                                     env=env).stdout)
        self.phase('init', env=env)
        if os.path.exists(self.command_log):
            os.unlink(self.command_log)
        self.phase('create', env=env)
        ran = [argv for argv, _, _ in self.commands()]
        assert ran, 'create ran no command'
        problems = commands.compare_commands(plan['commands'], ran)
        assert problems == [], '\n'.join(problems)
        return plan

    @property
    def state_folder(self):
        return os.path.join(self.build_dir, 'states', 'block-device')

    def state(self):
        with open(os.path.join(self.state_folder, 'state.json')) as src:
            return json.load(src)

    def results(self, node):
        return self.state()['results'].get(node, {})

    def image(self, name):
        return os.path.join(self.image_dir, name + '.raw')

    def built(self, *parts):
        """The text of a file ``writefstab`` wrote below built/."""
        with open(os.path.join(self.build_dir, 'built', *parts)) as src:
            return src.read()


# -- what the kernel still holds ---------------------------------------------

def loops_of(*images):
    """Loop devices still attached to any of *images* (by path)."""
    paths = {os.path.realpath(image) for image in images}
    return ['/dev/' + loop.name for loop in HOST.loops()
            if loop.backing in paths]


def mounts_below(prefix):
    return HOST.mounts_below(prefix)


def dm_names():
    """Names of every device-mapper device the kernel holds."""
    names = []
    for entry in sorted(os.listdir('/sys/block')):
        if entry.startswith('dm-'):
            with open('/sys/block/%s/dm/name' % entry) as src:
                names.append(src.read().strip())
    return names


def md_arrays():
    """{md device: [member kernel names]} of arrays the kernel holds."""
    arrays = {}
    for entry in sorted(os.listdir('/sys/block')):
        state = '/sys/block/%s/md/array_state' % entry
        if not os.path.exists(state):
            continue
        with open(state) as src:
            if src.read().strip() == 'clear':
                continue
        arrays[entry] = sorted(os.listdir('/sys/block/%s/slaves' % entry))
    return arrays


def attach(image, partscan=True):
    """A fresh loop device over *image*, as a booting system sees a disk."""
    args = ['losetup', '--find', '--show']
    if partscan:
        args.append('--partscan')
    return out(*args, image).strip()


def partition_node(disk, number, timeout=10.0):
    """The device node of partition *number* of *disk*, waited for."""
    node = '%sp%d' % (disk, number)
    deadline = time.monotonic() + timeout
    while not os.path.exists(node):
        if time.monotonic() > deadline:
            sh('partx', '--update', disk, check=False)
            if not os.path.exists(node):
                raise AssertionError('%s did not appear' % node)
        time.sleep(0.1)
    return node
