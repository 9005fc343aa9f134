"""``btrfs``: subvolumes of a btrfs filesystem, each mounted where the
image wants it.  Its options are described in :attr:`Btrfs.SCHEMA` (and
the README's table, made from it).

Two kinds of node.  The ``btrfs`` node makes the subvolumes: it mounts
the filesystem's top level (``subvolid=5``) on mount-base for the moment
it needs (journaled as any mount, stacked over whatever is mounted there
already and unmounted before create goes on), enables quota groups when
asked, creates each subvolume with ``btrfs subvolume create``, parents
before children (folders on the way are made, without following
symlinks), sets the quota limits and the default subvolume.  Each
subvolume with a mount point is a ``subvolume`` node: a mount like any
other, ordered with every mount of the image by its mount point (a
parent before its children, whatever the config order), mounted with
``subvol=<path>`` and its options, and writing its own fstab line.  A
plain ``mount`` on the btrfs node mounts the default subvolume (the top
level when none is the default).

The offline build refuses subvolumes: ``mkfs.btrfs --rootdir`` of
btrfs-progs 6.2 makes none (its ``--subvol`` option came in a later
release), so they need the kernel.

Host tools: btrfs (package btrfs-progs).
"""
import os
import re

from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import resources
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.level3 import mount as mount_mod

# The top level of every btrfs filesystem is subvolume 5.
TOP_LEVEL = 'subvolid=5'
# A component of a subvolume path: it ends up in fstab's options field
# and in mount(8)'s option string, which split at spaces and commas.
WORD = re.compile(r'^[A-Za-z0-9_.@+:-]+\Z')
# A mount option: printable ASCII without space or comma.
OPTION = re.compile(r'^[!-+\--~]+\Z')
# Options the build gives each subvolume mount itself.
OWN_OPTIONS = ('subvol', 'subvolid')
# Options left out of the build's own mount (it writes into the
# subvolume); the fstab line keeps them.
NOT_WHILE_BUILDING = ('ro',)
QUOTA_FLAGS = {'referenced': (), 'exclusive': ('-e',)}
SPECS = {'label': ('LABEL', 'label'), 'uuid': ('UUID', 'uuid')}


def normalise_path(text):
    """The canonical form of a subvolume path (``@home``,
    ``@/var/lib/machines``), or ValueError."""
    parts = [part for part in text.split('/') if part not in ('', '.')]
    if not parts:
        raise ValueError('%r names the top level, which is not a subvolume '
                         'of its own' % text)
    for part in parts:
        if part == '..':
            raise ValueError('%r must not contain ".."' % text)
        if not WORD.match(part):
            raise ValueError('%r: expected names of letters, digits and '
                             '_ . @ + : - joined by /' % text)
    return '/'.join(parts)


def mount_options(value, where):
    """The words of a subvolume's ``options`` (a comma-separated string
    or a list)."""
    listed = isinstance(value, list)
    words = value if listed else value.split(',')
    for index, word in enumerate(words):
        at = '%s[%d]' % (where, index) if listed else where
        if not OPTION.match(word):
            raise ConfigError(at, 'expected mount options: printable ASCII, '
                              'no spaces, commas between them; got %r'
                              % word)
        if word.split('=', 1)[0] in OWN_OPTIONS:
            raise ConfigError(at, '%s is set by the build: each subvolume '
                              'is mounted by its path' % word)
    return list(words)


def creation_order(subvolumes):
    """*subvolumes* parents first (a path sorts by its components)."""
    return sorted(subvolumes, key=lambda item: item['path'].split('/'))


def steps(top, subvolumes, quota):
    """(folder to make below *top* or None, command) pairs that make
    *subvolumes* on the top level mounted at *top*: pure, tested by
    value.  Quota groups are enabled first, so each subvolume gets its
    group as it is made."""
    ordered = creation_order(subvolumes)
    made = [('', ['btrfs', 'quota', 'enable', top])] if quota else []
    for item in ordered:
        parent = os.path.dirname(item['path'])
        made.append((parent, ['btrfs', 'subvolume', 'create',
                              os.path.join(top, item['path'])]))
    for item in ordered:
        for kind, limit in sorted(item.get('quota', {}).items()):
            made.append(('', ['btrfs', 'qgroup', 'limit', *QUOTA_FLAGS[kind],
                              str(limit), os.path.join(top, item['path'])]))
    for item in ordered:
        if item.get('default'):
            made.append(('', ['btrfs', 'subvolume', 'set-default',
                              os.path.join(top, item['path'])]))
    return [(folder or None, argv) for folder, argv in made]


class BtrfsNode(plugin.Node):
    """The subvolumes of one btrfs filesystem; offers that filesystem on
    (a plain mount mounts its default subvolume)."""
    kind = 'btrfs'
    needs_kernel = ('the kernel: mkfs.btrfs --rootdir of btrfs-progs 6.2 '
                    'makes no subvolumes (--subvol came in a later '
                    'btrfs-progs)')
    provides = frozenset([plugin.FILESYSTEM])
    accepts = (plugin.FILESYSTEM,)

    def link(self, graph):
        # What mounts, fstab lines and getval read of a filesystem they
        # find on it, as its mkfs node says it.
        base = graph.get(self.deps[0])
        for key in ('fstype', 'label'):
            if base is not None and key in base.facts:
                self.facts[key] = base.facts[key]

    def validate(self, graph, params):
        base = graph[self.deps[0]]
        if base.facts.get('fstype') != 'btrfs':
            raise ConfigError(self.path + '.base', 'subvolumes need a btrfs '
                              'filesystem; %s is %s' % (
                                  base.name, base.facts.get('fstype') or
                                  plugin.describe(base)))
        if not params.get('mount-base'):
            raise ConfigError('params.mount-base', 'is required to make btrfs '
                              'subvolumes (%s): the top level is mounted '
                              'there while they are made' % self.path)

    def create(self, ctx):
        fs = ctx.results(self.deps[0])
        device = fs['device']
        ctx.record(self, device=device, uuid=fs['uuid'], label=fs['label'],
                   fstype='btrfs',
                   subvolumes=[item['path'] for item in creation_order(
                       self.facts['subvolumes'])])
        top = ctx.params['mount-base']
        ctx.make_dirs(top, 'params.mount-base')
        identity = {'target': top, 'device': device,
                    'devnum': ctx.host.devnum(device)}
        entry = ctx.hold(self, 'mount', **identity)
        ctx.run(mount_mod.mount_argv('btrfs', [TOP_LEVEL], device, top))
        identity.update(resources.mount_identity(ctx.host, top, device))
        ctx.update(entry, **identity)
        for folder, argv in steps(top, self.facts['subvolumes'],
                                  self.facts['quota']):
            if folder:
                ctx.make_dirs_below(top, folder)
            ctx.run(argv)
        ctx.run(['umount', top])
        ctx.drop(entry)


class SubvolumeNode(mount_mod.MountNode):
    """One subvolume mounted at its mount point, with its fstab line."""
    kind = 'subvolume'
    needs_kernel = 'a btrfs subvolume (see its btrfs entry)'
    # Its btrfs node, which expands it: several share one.
    accepts = ()

    @property
    def fstab_line_of(self):
        return self.name

    def link(self, graph):
        super().link(graph)
        mount_mod.order_line(graph, self, self)

    def create(self, ctx):
        btrfs = ctx.nodes[self.deps[0]]
        fs = ctx.results(btrfs.name)
        own = ['subvol=' + self.facts['subvol']]
        options = self.facts['options']
        target = self.mount(ctx, fs, 'btrfs', own + [
            word for word in options if word not in NOT_WHILE_BUILDING])
        prefix, key = SPECS[btrfs.options.get('spec', 'label')]
        spec = '%s=%s' % (prefix, ctx.known(fs.get(key), '%s of %s'
                                            % (key, btrfs.name)))
        # btrfs has nothing for fsck to do at boot (fsck.btrfs is true).
        line = mount_mod.fstab_line(spec, self.mount_point, 'btrfs',
                                    ','.join(own + options), 0, 0)
        ctx.record(self, mount_point=self.mount_point, target=target,
                   device=fs['device'], subvol=self.facts['subvol'],
                   fstab=line)


SIZE = {'anyOf': [{'type': 'string'}, {'type': 'integer', 'minimum': 0}],
        'x-expected': 'a size such as 2GiB'}
SUBVOLUME_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['path'],
    'properties': {
        'path': {'type': 'string', 'minLength': 1, 'description':
                 'Required.  The path from the top level, normalised '
                 '(``/@home/`` is ``@home``): names of letters, digits and '
                 '``_ . @ + : -``, no ``..``.  A subvolume inside another '
                 '(``@/var/lib/machines``) is made after it; folders on '
                 'the way are made.  Unique.'},
        'name': plugin.documented(
            plugin.LOOSE_NAME_SCHEMA, 'The node name of its mount.  '
            'Default ``<btrfs name>:<path>``.'),
        'mount_point': {'type': 'string', 'minLength': 1, 'description':
                        'Where it is mounted in the image (``subvol=`` '
                        'its path), an absolute path, unique among all '
                        'mounts.  Without one the subvolume is only made '
                        '(it shows inside its parent).'},
        'options': {'anyOf': [{'type': 'string', 'minLength': 1}, {
            'type': 'array', 'minItems': 1, 'items': {'type': 'string'}}],
            'x-expected': 'mount options, comma-separated or a list',
            'description': 'Mount options such as ``compress=zstd:3,'
                           'noatime`` (a string or a list), in the fstab '
                           'line after ``subvol=``; the build mounts with '
                           'them too, but for ``ro``.'},
        'default': {'type': 'boolean', 'description':
                    'The default subvolume, which a mount without '
                    '``subvol=`` gets.  At most one.'},
        'quota': {'type': 'object', 'additionalProperties': False,
                  'minProperties': 1, 'description':
                  'Limits of its quota group, sizes: ``referenced`` (the '
                  'data it may refer to) and ``exclusive`` (the data '
                  'only it refers to).  Quota groups are then enabled.',
                  'properties': {
                      'referenced': dict(SIZE, description=(
                          'The most data it may refer to.')),
                      'exclusive': dict(SIZE, description=(
                          'The most data only it may refer to.'))}},
    },
}


class Btrfs(plugin.Plugin):
    SCHEMA = {
        'description': 'Subvolumes of the btrfs filesystem of ``base``, '
                       'made while the image is built, and mounted with '
                       'their fstab lines where they have a mount point.',
        'type': 'object',
        'additionalProperties': False,
        'required': ['base', 'name', 'subvolumes'],
        'properties': {
            'name': plugin.documented(plugin.LOOSE_NAME_SCHEMA,
                                      'Default ``btrfs_<base>``.'),
            'base': plugin.documented(plugin.BASE_SCHEMA, 'The ``mkfs`` '
                                      'node of a btrfs filesystem.'),
            'subvolumes': {'type': 'array', 'minItems': 1,
                           'items': SUBVOLUME_SCHEMA, 'description':
                           'Required: the subvolumes, at least one.'},
            'quota': {'type': 'boolean', 'description':
                      'Enable quota groups (one per subvolume).  Default: '
                      'true when a subvolume has a ``quota``, else '
                      'false.'},
            'spec': {'enum': sorted(SPECS), 'description':
                     'How the subvolumes\' fstab lines find the '
                     'filesystem: ``label`` (default, ``LABEL=``) or '
                     '``uuid`` (``UUID=``).'},
        },
    }
    NODE_TYPES = (BtrfsNode, SubvolumeNode)

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        items = [_subvolume(item, '%s.subvolumes[%d]' % (path, index))
                 for index, item in enumerate(options['subvolumes'])]
        _check_unique(items)
        limited = [item for item in items if item.get('quota')]
        if options.get('quota') is False and limited:
            raise ConfigError(path + '.quota', 'is false, but %s.quota sets '
                              'a limit' % limited[0]['at'])
        facts = {'subvolumes': [{key: value for key, value in item.items()
                                 if key in ('path', 'default', 'quota')}
                                for item in items],
                 'quota': bool(options.get('quota') or limited)}
        nodes = [BtrfsNode(plugin_name, options['name'], path,
                           [options['base']], options, facts)]
        for item, given in zip(items, options['subvolumes']):
            if 'mount_point' in item:
                nodes.append(SubvolumeNode(
                    plugin_name, given.get('name') or '%s:%s' % (
                        options['name'], item['path']),
                    item['at'], [options['name']], given, {
                        'mount_point': item['mount_point'],
                        'subvol': item['path'],
                        'options': item['options']}))
        return nodes


def _subvolume(given, where):
    """One subvolume item, normalised and checked."""
    try:
        item = {'at': where, 'path': normalise_path(given['path'])}
    except ValueError as err:
        raise ConfigError(where + '.path', str(err))
    if given.get('default'):
        item['default'] = True
    if 'mount_point' in given:
        try:
            point = mount_mod.normalise(given['mount_point'])
        except ValueError as err:
            raise ConfigError(where + '.mount_point', str(err))
        if point == 'none':
            raise ConfigError(where + '.mount_point', 'expected an absolute '
                              'path ("none" is for swap)')
        item['mount_point'] = point
        item['options'] = mount_options(given.get('options', []),
                                        where + '.options')
    elif 'options' in given:
        raise ConfigError(where + '.options', 'mount options need a '
                          'mount_point')
    if 'quota' in given:
        item['quota'] = {kind: sizes.parse_size_at(
            value, '%s.quota.%s' % (where, kind))
            for kind, value in given['quota'].items()}
    return item


def _check_unique(items):
    seen, default = {}, None
    for item in items:
        other = seen.setdefault(item['path'], item['at'])
        if other != item['at']:
            raise ConfigError(item['at'] + '.path', 'subvolume %s is also '
                              'given at %s' % (item['path'], other))
        if item.get('default') and default:
            raise ConfigError(item['at'] + '.default', 'only one subvolume '
                              'can be the default; %s is already' % default)
        default = default or (item.get('default') and item['at'])
