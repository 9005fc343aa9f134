"""``build``: a disk image from a directory tree in one command.

    dib-block-device build --root DIR --output disk.qcow2 \\
        [--config FILE] [--size SIZE] [--format raw|qcow2|vmdk|vhdx|vdi] \\
        [--compress]

Runs the phases (init, create, copy, writefstab, umount, cleanup) in a
scratch folder beside the output, converts the image with ``qemu-img``
and removes the scratch folder; on any failure it releases everything and
leaves nothing but the error.  Without ``--config`` the layout is one GPT
partition with ext4 at ``/``; without ``--size`` the image is the tree's
size plus headroom.  The tree is copied with ``cp -a``, which keeps
owners, modes, hard links, ACLs, xattrs, SELinux labels and device nodes,
and ``--sparse=always``, which keeps holes.
"""
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time

from diskimage_builder.block_device import blockdevice
from diskimage_builder.block_device import host as host_lib
from diskimage_builder.block_device import offline
from diskimage_builder.block_device import plugin as plugin_mod
from diskimage_builder.block_device import params_file
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device import trust
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.offline import driver
from diskimage_builder.block_device.offline import sizing
from diskimage_builder.block_device.repro import Repro
from diskimage_builder.block_device.teardown import teardown

LOG = logging.getLogger(__name__)
FORMATS = ('raw', 'qcow2', 'vmdk', 'vhdx', 'vdi')
MiB = 1 << 20
CAP_SYS_ADMIN = 21

DEFAULT_CONFIG = """\
- local_loop:
    name: image0
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: root
        size: 100%
        mkfs:
          type: ext4
          label: root
          mount:
            mount_point: /
            fstab:
              options: defaults
              fsck-passno: 1
"""


def tree_bytes(root):
    """Bytes the tree occupies (allocated blocks, hard links once)."""
    seen = set()
    total = 0
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            info = os.lstat(os.path.join(folder, name))
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
    return total


def default_size(root):
    """The tree plus a third, plus 256 MiB for metadata and the journal,
    rounded up to a MiB."""
    used = tree_bytes(root)
    return sizes.align_up(used + used // 3 + 256 * MiB, MiB)


def build(args, runner):
    repro = Repro.from_environ(seed=getattr(args, 'seed', None))
    root, output, fmt = check_args(args)
    size_auto = args.size == 'auto'
    size = None if size_auto else args.size or '%d' % default_size(root)
    if size:
        sizes.parse_size_at(size, '--size')
    try:
        scratch = tempfile.mkdtemp(prefix='.dib-build-',
                                   dir=os.path.dirname(output))
    except OSError as err:
        raise UsageError('--output %s: cannot make a scratch folder in %s: '
                         '%s' % (args.output, os.path.dirname(output),
                                 err.strerror))
    params, mode = _params(scratch, args.config, size), None
    try:
        params, nodes, parts = _sized(params, root, runner, scratch,
                                      size_auto)
        mode = choose_mode(_mode_asked(args), nodes)
        if mode == 'offline':
            raw = driver.make_image(
                params, nodes, blockdevice.plan(params, nodes), root,
                runner, repro, scratch, parts)
        else:
            raw = _build_raw(params, runner, root, repro)
        _convert(runner, raw, output, fmt, args.compress)
    except BaseException:
        if mode == 'kernel':
            teardown(params, runner, 'delete')
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    LOG.info('built %s (%s)', output, fmt)


def _mode_asked(args):
    return 'offline' if getattr(args, 'offline', False) else \
        getattr(args, 'mode', None) or 'auto'


def _sized(params, root, runner, scratch, size_auto):
    """(params, nodes, parts of the tree or None): with every auto size
    worked out from the tree when there is one."""
    from diskimage_builder.block_device import config as config_mod
    nodes = config_mod.build(config_mod.read_config(params), params)
    auto = size_auto or any(node.options.get('size') == 'auto'
                            for node in nodes
                            if plugin_mod.PARTITION in node.provides)
    if not auto:
        return params, nodes, None
    params, parts = sizing.resolve(params, root, runner, scratch, size_auto)
    LOG.info('sizes worked out from the tree: image %s',
             sizes.human(int(params['image-size'])))
    return params, config_mod.build(config_mod.read_config(params),
                                    params), parts


def kernel_path_problem(host=None):
    """Why this process cannot take the kernel path (attach loop devices,
    mount), or None."""
    host = host or host_lib.HOST
    if os.environ.get('FAKEROOTKEY'):
        return 'running under fakeroot, which is no root'
    if os.geteuid() != 0:
        return 'not root (uid %d)' % os.geteuid()
    status = host.read(os.path.join(host.proc_root, 'self', 'status')) or ''
    caps = re.search(r'^CapEff:\s*([0-9a-f]+)', status, re.M)
    if caps and not int(caps.group(1), 16) & (1 << CAP_SYS_ADMIN):
        return 'root without CAP_SYS_ADMIN (a container?)'
    if not os.path.exists(os.path.join(host.dev_root, 'loop-control')):
        return 'no loop devices (%s/loop-control)' % host.dev_root
    return None


def choose_mode(asked, nodes):
    """``kernel`` or ``offline``, as asked or, for ``auto``, the kernel
    path when this process can take it, else offline when the config
    allows; the log says which and why."""
    problem = kernel_path_problem()
    refused = offline.refusals(nodes)
    if asked == 'auto':
        if problem is None:
            LOG.info('build: the kernel path (root and loop devices)')
            return 'kernel'
        if not refused:
            LOG.info('build: offline (the kernel path is out: %s)', problem)
            return 'offline'
        raise UsageError('neither path can build this: the kernel path '
                         'needs root and loop devices (%s), and %s'
                         % (problem, refused[0]))
    if asked == 'offline':
        offline.check(nodes)
        LOG.info('build: offline (as asked)')
    elif problem is not None:
        raise UsageError('--mode kernel: %s' % problem)
    return asked


def check_args(args):
    """(root, output, format) of a build command line, checked before
    anything is made: the scratch folder goes beside the output."""
    if not os.path.isdir(args.root):
        raise UsageError('--root %s is not a directory' % args.root)
    output = os.path.abspath(args.output)
    folder = os.path.dirname(output)
    if not os.path.isdir(folder):
        raise UsageError('--output %s: the folder %s %s' % (
            args.output, folder, 'is not a directory'
            if os.path.lexists(folder) else 'does not exist'))
    if os.path.isdir(output):
        raise UsageError('--output %s is a directory: name the image file'
                         % args.output)
    if args.config:
        # Read here so that the error names the option, not params.
        params_file.read_text(args.config, '--config', 'the config')
    fmt = args.format or _format_from_name(args.output)
    if args.compress and fmt != 'qcow2':
        raise UsageError('--compress needs --format qcow2 (the output is %s)'
                         % fmt)
    return os.path.abspath(args.root), output, fmt


def _format_from_name(path):
    ext = os.path.splitext(path)[1].lstrip('.').lower()
    return ext if ext in FORMATS else 'raw'


def _params(scratch, config, size=None):
    if config is None:
        config = os.path.join(scratch, 'config.yaml')
        with open(config, 'w') as out:
            out.write(DEFAULT_CONFIG)
    build_dir = os.path.join(scratch, 'build')
    os.makedirs(os.path.join(build_dir, 'built', 'etc'), mode=0o700)
    from diskimage_builder.block_device import config as config_mod
    params = {'config': os.path.abspath(config), 'build-dir': build_dir,
              'image-dir': os.path.join(scratch, 'images'),
              'mount-base': os.path.join(build_dir, 'mnt'),
              'root-fs-type': 'ext4', 'root-label': 'root'}
    if size is not None:
        params['image-size'] = size
    config_mod.check_schema(params, config_mod.PARAMS_SCHEMA, 'params')
    return params


def _build_raw(params, runner, root, repro):
    blockdevice.init(params)
    data = state_mod.load_build(params)
    image = data['values']['image-path']
    if not image:
        raise UsageError('build needs a config whose first disk is a '
                         'local_loop image')
    blockdevice.create(params, runner, repro)
    _copy(runner, root, params['mount-base'])
    blockdevice.write_fstab(params)
    _install_fstab(params)
    teardown(params, runner, 'umount')
    teardown(params, runner, 'cleanup')
    return image


def _copy(runner, root, target):
    total = tree_bytes(root)
    with Progress('copying', total, lambda: _used_below(target)):
        runner.run(['cp', '-a', '--sparse=always', '--', root + '/.',
                    target + '/'])


def _install_fstab(params):
    """writefstab wrote built/etc; the image's own /etc gets the same
    files, unless the tree brought its own.  The tree is the user's: a
    symlink in it (an absolute ``etc``) is never followed."""
    built = os.path.join(params['build-dir'], 'built', 'etc')
    for folder, _, files in os.walk(built):
        for name in files:
            relative = os.path.relpath(os.path.join(folder, name), built)
            with open(os.path.join(built, relative), 'rb') as src:
                trust.write_file_below(params['mount-base'],
                                       'etc/' + relative, src.read(),
                                       keep=True)


def _used_below(target):
    stat = os.statvfs(target)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize


def _convert(runner, raw, output, fmt, compress):
    if fmt == 'raw' and not compress:
        # Same file system most of the time: a rename keeps it sparse.
        try:
            os.replace(raw, output)
            return
        except OSError:
            pass
    argv = ['qemu-img', 'convert', '-f', 'raw', '-O', fmt]
    if compress:
        if fmt != 'qcow2':
            raise UsageError('--compress needs --format qcow2')
        argv.append('-c')
    if sys.stderr.isatty():
        argv.append('-p')
    runner.run(argv + [raw, output + '.part'])
    os.replace(output + '.part', output)


class Progress:
    """A progress bar on a terminal, a log line every few seconds else."""

    def __init__(self, what, total, done_bytes, period=0.5):
        self.what = what
        self.total = max(total, 1)
        self.done_bytes = done_bytes
        self.period = period
        self.stop = threading.Event()
        self.start_bytes = 0

    def __enter__(self):
        self.start = time.monotonic()
        self.start_bytes = self.done_bytes()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self._show(final=True)

    def _loop(self):
        tty = sys.stderr.isatty()
        while not self.stop.wait(self.period if tty else 5):
            self._show()

    def _show(self, final=False):
        done = max(self.done_bytes() - self.start_bytes, 0)
        if final:
            done = max(done, self.total)
        took = max(time.monotonic() - self.start, 1e-6)
        share = min(done / self.total, 1.0)
        rate = '%s/s' % sizes.human(int(done / took))
        if sys.stderr.isatty():
            bar = '#' * int(share * 30)
            sys.stderr.write('\r%s [%-30s] %3d%% %s %s' % (
                self.what, bar, share * 100, sizes.human(done), rate))
            if final:
                sys.stderr.write('\n')
            sys.stderr.flush()
        else:
            LOG.info('%s: %s of %s, %s', self.what, sizes.human(done),
                     sizes.human(self.total), rate)
