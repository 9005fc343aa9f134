"""``mount``: mount a filesystem under the params ``mount-base``.

Its options are described in :attr:`Mount.SCHEMA` (and the README's table,
made from it).  Mounts happen in the order of their mount points as
strings, whatever the config order (``/``, ``/boot``, ``/boot/efi``,
``/var``; ``none`` last), as diskimage-builder mounts them: a parent
always comes before its children.  They come off in reverse.  Mount point
directories are created without following symlinks.
"""
import os
import posixpath

from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import resources
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.repro import times


def normalise(mount_point):
    """The canonical form of a mount point, or ValueError."""
    if mount_point == 'none':
        return mount_point
    if not mount_point.startswith('/'):
        raise ValueError('expected an absolute path or "none", got %r'
                         % mount_point)
    if '..' in mount_point.split('/'):
        raise ValueError('%r must not contain ".."' % mount_point)
    if any(char < ' ' or char == '\x7f' for char in mount_point):
        raise ValueError('%r must not contain control characters (a '
                         'newline would start another fstab line)'
                         % mount_point)
    return posixpath.normpath(mount_point).replace('//', '/')


class MountNode(plugin.Node):
    kind = 'mount'
    provides = frozenset([plugin.MOUNT])
    accepts = (plugin.FILESYSTEM,)

    @property
    def mount_point(self):
        return self.facts['mount_point']

    def link(self, graph):
        # Mounts are made in the order of their mount points as strings,
        # as diskimage-builder makes them: "/" first, a parent before its
        # children ("/var" < "/var/log"), swap ("none") last.  Each mount
        # waits for the one before it; the fstab is written in this order.
        before = previous_mount(graph, self)
        if before is not None and before.name not in self.after:
            self.after.append(before.name)

    def validate(self, graph, params):
        base = graph[self.deps[0]]
        swap = base.facts.get('fstype') == 'swap'
        if swap != (self.mount_point == 'none'):
            raise ConfigError(self.path + '.mount_point', 'swap takes '
                              'mount_point "none" and only swap does')
        for other in plugin.earlier(graph, self):
            if plugin.MOUNT in other.provides and \
                    other.mount_point == self.mount_point != 'none':
                raise ConfigError(self.path + '.mount_point', 'mount point '
                                  '%s is also used by %s (%s)'
                                  % (self.mount_point, other.name,
                                     other.path))
        if self.mount_point != 'none' and not params.get('mount-base'):
            raise ConfigError('params.mount-base', 'is required when '
                              'anything is mounted (%s mounts %s)'
                              % (self.path, self.mount_point))

    def target(self, params):
        return os.path.join(params['mount-base'],
                            self.mount_point.lstrip('/')).rstrip('/') \
            or '/'

    needs_kernel = None

    def offline(self, octx):
        # Nothing is mounted: the mount point says which part of the tree
        # the filesystem is made from.
        octx.record(self, mount_point=self.mount_point)

    def create(self, ctx):
        mkfs = ctx.nodes[self.deps[0]]
        fs = ctx.results(mkfs.name)
        if self.mount_point == 'none':
            ctx.record(self, mount_point='none', device=fs['device'])
            return
        # The type the config asked for; mkfs's probe of it agreed.
        target = self.mount(ctx, fs, mkfs.facts['fstype'])
        ctx.record(self, mount_point=self.mount_point, target=target,
                   device=fs['device'])

    def mount(self, ctx, fs, fstype, options=()):
        """Mount the filesystem of results *fs* at this mount point below
        mount-base with *options*, journaled; returns the target."""
        base = ctx.params['mount-base']
        target = self.target(ctx.params)
        ctx.make_dirs(base, 'params.mount-base')
        ctx.make_dirs_below(base, self.mount_point.lstrip('/'))
        device = fs['device']
        identity = {'target': target, 'device': device,
                    'devnum': ctx.host.devnum(device)}
        entry = ctx.hold(self, 'mount', **identity)
        ctx.run(mount_argv(fstype, list(options) + times.mount_options(
            fstype, ctx.repro.epoch), device, target))
        identity.update(resources.mount_identity(ctx.host, target, device))
        ctx.update(entry, **identity)
        reset = times.after_mount(ctx, fstype, device)
        if reset:
            ctx.hold(self, reset, epoch=ctx.repro.epoch,
                     mount_point=self.mount_point, uuid=fs['uuid'],
                     **identity)
        return target


def mount_argv(fstype, options, device, target):
    return ['mount', '-t', fstype] + (
        ['-o', ','.join(options)] if options else []) + [device, target]


def fstab_field(text):
    """A field as fstab(5) wants it: space, tab, newline and backslash
    written as octal escapes (mount and systemd read them back)."""
    return ''.join('\\%03o' % ord(char) if char in ' \t\n\\' else char
                   for char in text)


def fstab_line(spec, mount_point, fstype, options, dump, passno):
    return '%s %s %s %s %d %d' % (fstab_field(spec), fstab_field(mount_point),
                                  fstype, options, dump, passno)


def line_writers(graph):
    """{mount name: the node that writes its fstab line}: an ``fstab``
    node, or a mount that writes its own (a btrfs subvolume's)."""
    return {node.fstab_line_of: node for node in graph.values()
            if getattr(node, 'fstab_line_of', None)}


def order_line(graph, node, mount):
    """Order *node*, which writes the line of *mount*, after the line of
    the nearest earlier mount that has one: lines are written in creation
    order, which must be the mount order (mount(8) reads fstab top
    down)."""
    writers = line_writers(graph)
    before = previous_mount(graph, mount)
    while before is not None and before.name not in writers:
        before = previous_mount(graph, before)
    if before is not None and writers[before.name].name not in node.after:
        node.after.append(writers[before.name].name)


def previous_mount(graph, node):
    """The mount made right before *node* (see MountNode.link), or None."""
    mounts = [other for other in graph.values()
              if plugin.MOUNT in other.provides]
    ordered = sorted(mounts, key=lambda m: (m.mount_point,
                                            mounts.index(m)))
    index = ordered.index(node)
    return ordered[index - 1] if index else None


class Mount(plugin.Plugin):
    SCHEMA = {
        'description': 'The filesystem of ``base`` mounted below params '
                       '``mount-base`` while the image is built.',
        'type': 'object',
        'additionalProperties': False,
        'required': ['base', 'name', 'mount_point'],
        'properties': {
            'name': plugin.documented(plugin.LOOSE_NAME_SCHEMA,
                                      'Default ``mount_<base>``.'),
            'base': plugin.documented(plugin.BASE_SCHEMA, 'The ``mkfs`` '
                                      'node whose filesystem is mounted.'),
            'mount_point': {'type': 'string', 'minLength': 1, 'description':
                            'Required: where the filesystem is mounted in '
                            'the image, an absolute path, normalised (no '
                            '``..``, no control characters); ``none`` for '
                            'swap, which is not mounted.'},
        },
    }
    NODE_TYPES = (MountNode,)

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        try:
            mount_point = normalise(options['mount_point'])
        except ValueError as err:
            raise ConfigError(path + '.mount_point', str(err))
        return [MountNode(plugin_name, options['name'], path,
                          [options['base']], options,
                          {'mount_point': mount_point})]
