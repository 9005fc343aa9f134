"""``local_loop``: a sparse image file attached to a loop device.

Its options are described in :attr:`LocalLoop.SCHEMA` (and the README's
table, made from it).  The loop device scans partitions itself
(``--partscan``), so no device-mapper or kpartx is needed.
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

    def validate(self, graph, params):
        self._size(params)
        if 'directory' in self.options:
            # As params image-dir is checked (trust), before anything.
            problem = trust.folder_problem(self.options['directory'],
                                           final=False)
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

    def check(self, ctx):
        # Again right before create: the folder may have changed since
        # init, and nothing is attached yet.
        problem = self._image_problem()
        if problem:
            raise UsageError('%s: %s' % (self.path, problem))

    def plan(self, pctx):
        size = self._size(pctx.params)
        if size is None:
            if pctx.sizes_known_only:
                return
            raise ConfigError(self.path + '.size', 'no size: set size here '
                              'or image-size in the params')
        block = self.facts['block_size']
        if size < 1024 * 1024 or size % block:
            raise ConfigError(self._size_path(), 'the image size %d is '
                              'not a whole number of %d-byte sectors of at '
                              'least 1MiB' % (size, block))
        # A new sparse file reads as zeros: mkfs need not discard or zero.
        pctx.set(self, size=size, sector_size=block, zeroed=True)

    needs_kernel = None

    def offline(self, octx):
        path = self.facts['image_path']
        planned = octx.plan_of(self.name)
        trust.make_dirs(os.path.dirname(path), self.path + '.directory',
                        final=False)
        octx.set_image(self, path, planned.size)
        octx.record(self, image_path=path, size=planned.size,
                    sector_size=planned.sector_size)

    def create(self, ctx):
        path = self.facts['image_path']
        planned = ctx.plan_of(self.name)
        ctx.claim(self, 'image', path)
        # Sticky like /tmp is fine: the image is made O_EXCL|O_NOFOLLOW.
        ctx.make_dirs(os.path.dirname(path), self.path + '.directory',
                      final=False)
        image = ctx.hold(self, 'image-file', released_by='delete', path=path)
        try:
            made = ctx.make_file(path, planned.size)
        except OSError as err:
            # EFBIG: the filesystem's largest file is smaller (ext2 with
            # 1 KiB blocks: 16 GiB); ENOSPC, EDQUOT: one that allocates.
            raise UsageError('%s: cannot make the %s image %s in %s: %s'
                             % (self.path, sizes.human(planned.size),
                                os.path.basename(path), os.path.dirname(path),
                                err.strerror))
        ctx.update(image, **made)
        loop = ctx.hold(self, 'loop', file=path, **made)
        device = ctx.run(losetup_argv(path, planned.sector_size)
                         ).stdout.strip()
        ctx.update(loop, device=device, devnum=ctx.host.devnum(device))
        ctx.record(self, device=device, image_path=path, size=planned.size,
                   sector_size=planned.sector_size)


def losetup_argv(path, sector_size):
    argv = ['losetup', '--find', '--show', '--partscan']
    if sector_size != 512:
        argv += ['--sector-size', str(sector_size)]
    return argv + [path]


def block_size(options):
    """The sector size of the image: DIB_BLOCK_SIZE (as diskimage-builder
    sets it for a whole build), else the option, else 512."""
    env = os.environ.get('DIB_BLOCK_SIZE')
    if env:
        if env not in ('512', '4096'):
            raise ConfigError('DIB_BLOCK_SIZE', 'expected 512 or 4096, '
                              'got %r' % env)
        return int(env)
    return options.get('block_size', 512)


class LocalLoop(plugin.Plugin):
    SCHEMA = {
        'description': 'A sparse image file ``<directory>/<name>.raw`` '
                       'attached to a loop device that scans its own '
                       'partitions.',
        'type': 'object',
        'additionalProperties': False,
        'required': ['name'],
        'properties': {
            'name': plugin.documented(
                plugin.NAME_SCHEMA,
                'Required.  The image file is ``<directory>/<name>.raw``.'),
            'size': {'type': ['string', 'integer'], 'description':
                     'The size of the image: a whole number of sectors, '
                     'at least 1 MiB.  Default: params ``image-size``.'},
            'directory': {'type': 'string', 'minLength': 1, 'description':
                          'The absolute path of the folder the image is '
                          'made in.  Default: params ``image-dir``.'},
            'block_size': {'enum': [512, 4096], 'description':
                           'The sector size of the loop device: ``512`` '
                           '(default) or ``4096``.  The environment '
                           'variable ``DIB_BLOCK_SIZE`` overrides it.'},
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
                         {'image_path': image,
                          'block_size': block_size(options)})]
