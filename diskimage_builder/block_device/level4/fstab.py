"""``fstab``: the fstab line of a mounted filesystem.

Its options and their defaults (diskimage-builder's) are described in
:attr:`Fstab.SCHEMA` and the README's table made from it.  The line is
worked out once the filesystem exists, from what the filesystem reports
(its real label and UUID); ``writefstab`` writes the lines in mount order
to ``<build-dir>/built/etc/fstab``.
"""
from diskimage_builder.block_device import plugin
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.level3.mount import fstab_field  # noqa
from diskimage_builder.block_device.level3.mount import fstab_line
from diskimage_builder.block_device.level3.mount import order_line

SPEC_FIELDS = {'label': ('LABEL', 'label'), 'uuid': ('UUID', 'uuid'),
               'partuuid': ('PARTUUID', 'partuuid')}


class FstabNode(plugin.Node):
    kind = 'fstab'
    accepts = (plugin.MOUNT,)

    @property
    def fstab_line_of(self):
        return self.deps[0]

    def link(self, graph):
        # This line waits for the line of the mount before its own.
        mount = graph.get(self.deps[0])
        if mount is not None and plugin.MOUNT in mount.provides:
            order_line(graph, self, mount)

    def validate(self, graph, params):
        spec = self.options.get('spec')
        device = device_below(graph, graph[self.deps[0]].deps[0])
        if spec and device is not None and plugin.VERITY in device.provides:
            raise ConfigError(self.path + '.spec', '%s= would also find the '
                              'unchecked data device below %s: a filesystem '
                              'on dm-verity is found by its verity device, '
                              '%s (leave spec out)' % (
                                  SPEC_FIELDS[spec][0], device.name,
                                  device.facts['boot_device']))
        if spec == 'partuuid':
            mkfs = graph[graph[self.deps[0]].deps[0]]
            base = graph.get(mkfs.deps[0])
            if base is None or plugin.PARTITION not in base.provides:
                raise ConfigError(self.path + '.spec', 'partuuid needs a '
                                  'filesystem directly on a partition; %s is '
                                  'on %s, %s: use label or uuid'
                                  % (mkfs.name, mkfs.deps[0],
                                     plugin.describe(base) if base
                                     else 'missing'))

    def create(self, ctx):
        mount = ctx.nodes[self.deps[0]]
        below = list(plugin.stack_below(ctx.nodes, mount.deps[0]))
        device = device_below(ctx.nodes, mount.deps[0])
        if device is not None and plugin.VERITY in device.provides:
            spec = device.facts['boot_device']
        else:
            spec = self.spec(ctx, mount)
        line = self.line(mount_fstype(ctx, mount), mount.facts['mount_point'],
                         spec, any(plugin.VERITY in node.provides
                                   for node in below))
        ctx.record(self, fstab=line)

    def spec(self, ctx, mount):
        """``LABEL=``, ``UUID=`` or ``PARTUUID=`` of the filesystem, as
        it reports it."""
        fs = ctx.results(mount.deps[0])
        by = self.options.get('spec', 'label')
        prefix, key = SPEC_FIELDS[by]
        if by == 'partuuid':
            fs = ctx.results(ctx.nodes[mount.deps[0]].deps[0])
        value = ctx.known(fs.get(key), '%s of %s' % (key, mount.deps[0]))
        return '%s=%s' % (prefix, value)

    # The line is worked out the same way from what the filesystem's
    # offline step recorded.
    needs_kernel = None
    offline = create

    def line(self, fstype, mount_point, spec, read_only=False):
        """This node's fstab line for a filesystem found by *spec*
        (``LABEL=root``).  diskimage-builder's defaults: "sw 0 0" for
        swap, else "defaults 0 2" (fsck-passno 2 for / too; fstab(5)
        recommends 1 there, which the config can say).  On dm-verity
        (*read_only*): "ro 0 0", nothing can be written or repaired."""
        swap = fstype == 'swap'
        return fstab_line(
            spec, mount_point, fstype, self.options.get(
                'options', 'sw' if swap else 'ro' if read_only
                else 'defaults'),
            self.options.get('dump-freq', 0),
            self.options.get('fsck-passno', 0 if swap or read_only else 2))


def device_below(nodes, name):
    """The block device a filesystem (node *name*) lies on."""
    return next((node for node in plugin.stack_below(nodes, name)
                 if plugin.BLOCK_DEVICE in node.provides), None)


def mount_fstype(ctx, mount):
    """The type of the filesystem a mount mounts, as the config says it."""
    return ctx.nodes[mount.deps[0]].facts['fstype']


class Fstab(plugin.Plugin):
    SCHEMA = {
        'description': 'The fstab line of a mounted filesystem, which '
                       '``writefstab`` writes.',
        'type': 'object',
        'additionalProperties': False,
        'required': ['base', 'name'],
        'properties': {
            'name': plugin.documented(plugin.LOOSE_NAME_SCHEMA,
                                      'Default ``fstab_<base>``.'),
            'base': plugin.documented(plugin.BASE_SCHEMA, 'The ``mount`` '
                                      'node the line is for.'),
            'options': {'type': 'string', 'pattern': '^[!-~]+$',
                        'x-expected': 'mount options: printable ASCII, '
                                      'no spaces',
                        'description': 'The mount options: printable '
                                       'ASCII, no spaces.  Default '
                                       '``defaults``, ``sw`` for swap, '
                                       '``ro`` on dm-verity.'},
            'dump-freq': {'type': 'integer', 'minimum': 0,
                          'maximum': 2147483647, 'description':
                          'The dump field, 0 to 2147483647.  Default 0.'},
            'fsck-passno': {'type': 'integer', 'minimum': 0, 'maximum': 9,
                            'description': 'The fsck pass, 0 to 9.  '
                            'Default 2 (on ``/`` too, as diskimage-builder '
                            'writes it; fstab(5) recommends 1 there: say '
                            'so), 0 for swap and on dm-verity.'},
            'spec': {'enum': sorted(SPEC_FIELDS), 'description':
                     'How the line finds the filesystem: ``label`` '
                     '(default, ``LABEL=``), ``uuid`` (``UUID=``) or '
                     '``partuuid`` (``PARTUUID=``, for a filesystem '
                     'directly on a partition).  A filesystem directly on '
                     'dm-verity is found by its verity device, '
                     '``/dev/mapper/<name>``, and takes none.'},
        },
    }
    NODE_TYPES = (FstabNode,)

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        return [FstabNode(plugin_name, options['name'], path,
                          [options['base']], options)]
