"""``fstab``: the fstab line of a mounted filesystem.

    - fstab:
        base: mount_mkfs_root   # a mount node
        options: defaults       # default "defaults"
        dump-freq: 0            # default 0
        fsck-passno: 1          # default 1 for /, 2 otherwise, 0 for swap
        spec: label             # label (default), uuid or partuuid

The line is worked out once the filesystem exists, from what the
filesystem reports (its real label and UUID); ``writefstab`` writes the
lines in mount order to ``<build-dir>/built/etc/fstab``.
"""
from diskimage_builder.block_device import plugin
from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.errors import ConfigError

SPEC_FIELDS = {'label': ('LABEL', 'label'), 'uuid': ('UUID', 'uuid'),
               'partuuid': ('PARTUUID', 'partuuid')}


def fstab_line(spec, mount_point, fstype, options, dump, passno):
    return '%s %s %s %s %d %d' % (spec, mount_point, fstype, options, dump,
                                  passno)


class FstabNode(plugin.Node):
    kind = 'fstab'

    def link(self, graph):
        # fstab lines are written in creation order: the line of a parent
        # mount (/) must come before its children's (/boot), as mount(8)
        # reads them top down.
        mount = graph.get(self.deps[0])
        if mount is None or mount.kind != 'mount':
            return
        parents = set(mount.deps[1:])
        for other in graph.values():
            if other.kind == 'fstab' and other.deps[0] in parents and \
                    other.name not in self.deps:
                self.deps.append(other.name)

    def validate(self, graph, params):
        mount = graph[self.deps[0]]
        if mount.kind != 'mount':
            raise ConfigError(self.path + '.base', 'fstab needs a mount node '
                              'as base; %s is a %s node'
                              % (mount.name, mount.kind))
        for other in plugin.earlier(graph, self):
            if other.kind == 'fstab' and other.deps[0] == mount.name:
                raise ConfigError(self.path, 'mount %s already has an fstab '
                                  'entry at %s' % (mount.name, other.path))

    def create(self, ctx):
        mount = ctx.nodes[self.deps[0]]
        fs = ctx.results(mount.deps[0])
        mount_point = mount.facts['mount_point']
        by = self.options.get('spec', 'label')
        prefix, key = SPEC_FIELDS[by]
        if by == 'partuuid':
            value = self._partuuid(ctx, mount)
        else:
            value = fs.get(key)
        if not value:
            raise BlockDeviceError('%s: the filesystem on %s has no %s to '
                                   'put in fstab' % (self.path, fs['device'],
                                                     key))
        swap = fs['fstype'] == 'swap'
        passno = self.options.get('fsck-passno',
                                  0 if swap else 1 if mount_point == '/'
                                  else 2)
        line = fstab_line('%s=%s' % (prefix, value), mount_point,
                          fs['fstype'], self.options.get('options',
                                                         'defaults'),
                          self.options.get('dump-freq', 0), passno)
        ctx.record(self, fstab=line)

    def _partuuid(self, ctx, mount):
        mkfs = ctx.nodes[mount.deps[0]]
        partuuid = ctx.results(mkfs.deps[0]).get('partuuid')
        if not partuuid:
            raise BlockDeviceError('%s: spec partuuid needs a filesystem '
                                   'directly on a partition' % self.path)
        return partuuid


class Fstab(plugin.Plugin):
    SCHEMA = {
        'type': 'object',
        'additionalProperties': False,
        'required': ['base', 'name'],
        'properties': {
            'name': plugin.NAME_SCHEMA,
            'base': plugin.BASE_SCHEMA,
            'options': {'type': 'string', 'minLength': 1,
                        'pattern': r'^\S+$'},
            'dump-freq': {'type': 'integer', 'minimum': 0},
            'fsck-passno': {'type': 'integer', 'minimum': 0},
            'spec': {'enum': sorted(SPEC_FIELDS)},
        },
    }
    NODE_TYPES = (FstabNode,)

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        return [FstabNode(plugin_name, options['name'], path,
                          [options['base']], options)]
