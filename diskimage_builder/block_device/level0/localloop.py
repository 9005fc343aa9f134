"""``local_loop``: a sparse image file attached to a loop device.

    - local_loop:
        name: image0          # the image is <directory>/image0.raw
        size: 2GiB            # default: params image-size
        directory: /var/tmp   # default: params image-dir
        block_size: 4096      # 512 (default) or 4096; env DIB_BLOCK_SIZE wins

Host tools: losetup (util-linux).  The loop device scans partitions
itself (``--partscan``), so no device-mapper or kpartx is needed.
"""
import os

from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device import trust
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.errors import UsageError


class LoopNode(plugin.Node):
    kind = 'loop'
    level = 0
    provides = frozenset([plugin.BLOCK_DEVICE])

    def _size_path(self):
        return self.path + ('.size' if 'size' in self.options
                            else ' (params image-size)')

    def _size(self, params):
        size = self.options.get('size', params.get('image-size'))
        if size is None:
            return None
        return sizes.parse_size_at(size, self._size_path())

    def block_size(self):
        env = os.environ.get('DIB_BLOCK_SIZE')
        if env:
            if env not in ('512', '4096'):
                raise ConfigError('DIB_BLOCK_SIZE', 'expected 512 or 4096, '
                                  'got %r' % env)
            return int(env)
        return self.options.get('block_size', 512)

    def validate(self, graph, params):
        self.block_size()
        self._size(params)
        if 'directory' in self.options:
            # As params image-dir is checked (trust), before anything.
            problem = trust.folder_problem(self.options['directory'])
            if problem:
                raise ConfigError(self.path + '.directory', problem)
        problem = self._image_problem()
        if problem:
            raise ConfigError(self.path, problem)

    def _image_problem(self):
        """What keeps the image file from being made, seen on the host
        now: a folder where it goes, or no folder to put it in."""
        path = self.facts['image_path']
        if os.path.isdir(path) and not os.path.islink(path):
            return ('the image %s is a directory: remove it, or choose '
                    'another name or directory' % path)
        folder = os.path.dirname(path)
        if os.path.lexists(folder) and not os.path.isdir(folder):
            return ('the image folder %s is not a directory' % folder)
        return None

    def preflight(self, runner, params):
        # Again right before create: the folder may have changed since
        # init, and nothing is attached yet.
        problem = self._image_problem()
        if problem:
            raise UsageError('%s: %s' % (self.path, problem))

    def tools(self, params):
        return {'losetup': 'util-linux'}

    def claims(self):
        return [('image', self.facts['image_path'])]

    def held_resources(self, params):
        path = self.facts['image_path']
        return [('loop', {'file': path})]

    def plan(self, pctx):
        size = self._size(pctx.params)
        if size is None:
            if pctx.sizes_known_only:
                return
            raise ConfigError(self.path + '.size', 'no size: set size here '
                              'or image-size in the params')
        block = self.block_size()
        if size < 1024 * 1024 or size % block:
            raise ConfigError(self._size_path(), 'the image size %d is '
                              'not a whole number of %d-byte sectors of at '
                              'least 1MiB' % (size, block))
        # A new sparse file reads as zeros: mkfs need not discard or zero.
        pctx.of(self.name).update(size=size, sector_size=block, zeroed=True)

    @staticmethod
    def losetup_argv(path, sector_size):
        argv = ['losetup', '--find', '--show', '--partscan']
        if sector_size != 512:
            argv += ['--sector-size', str(sector_size)]
        return argv + [path]

    def commands(self, pctx):
        planned = pctx.planned[self.name]
        return [plugin.command(self.losetup_argv(self.facts['image_path'],
                                                 planned['sector_size']))]

    def create(self, ctx):
        path = self.facts['image_path']
        planned = ctx.planned[self.name]
        trust.make_dirs(os.path.dirname(path), self.path + '.directory')
        image = ctx.hold(self, 'image-file', released_by='delete', path=path)
        try:
            made = _make_sparse(path, planned['size'])
        except OSError as err:
            # EFBIG: the filesystem's largest file is smaller (ext2 with
            # 1 KiB blocks: 16 GiB); ENOSPC, EDQUOT: one that allocates.
            raise UsageError('%s: cannot make the %s image %s in %s: %s'
                             % (self.path, sizes.human(planned['size']),
                                os.path.basename(path), os.path.dirname(path),
                                err.strerror))
        ctx.update(image, **made)
        loop = ctx.hold(self, 'loop', file=path, **made)
        device = ctx.runner.run(self.losetup_argv(
            path, planned['sector_size'])).stdout.strip()
        ctx.update(loop, device=device, devnum=ctx.host.devnum(device))
        ctx.record(self, device=device, image_path=path,
                   size=planned['size'],
                   sector_size=planned['sector_size'])


def _make_sparse(path, size):
    """Make the image file; return its identity (device and inode).  A
    left-over image of an earlier build is replaced, never reused; a
    symlink planted at the path is removed, never followed."""
    if os.path.lexists(path):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 0o644)
    try:
        info = os.fstat(fd)
        os.ftruncate(fd, size)
    finally:
        os.close(fd)
    return {'dev': info.st_dev, 'ino': info.st_ino}


class LocalLoop(plugin.Plugin):
    SCHEMA = {
        'type': 'object',
        'additionalProperties': False,
        'required': ['name'],
        'properties': {
            'name': plugin.NAME_SCHEMA,
            'size': {'type': ['string', 'integer']},
            'directory': {'type': 'string', 'minLength': 1},
            'block_size': {'enum': [512, 4096]},
        },
    }
    NODE_TYPES = (LoopNode,)

    @classmethod
    def default_name(cls, plugin_name, options):
        return None

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        directory = options.get('directory', params.get('image-dir'))
        if not directory:
            raise ConfigError(path + '.directory', 'no image directory: set '
                              'directory here or image-dir in the params')
        if not os.path.isabs(directory):
            raise ConfigError(path + '.directory', 'expected an absolute '
                              'path, got %r' % directory)
        image = os.path.join(directory, options['name'] + '.raw')
        if 'size' in options:
            sizes.parse_size_at(options['size'], path + '.size')
        return [LoopNode(plugin_name, options['name'], path, [], options,
                         {'image_path': image})]
