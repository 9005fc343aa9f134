"""``verity``: a dm-verity hash tree over a data device, on a device of
its own.  Its options are described in :attr:`Verity.SCHEMA` (and the
README's table, made from it).

During the build the verity node offers its data device as it is
(``mkfs`` writes the filesystem there, the build fills it read-write);
the tree is computed once that filesystem is final.  That moment is the
release of the node's journal entry (``verity-hash``, held at create):
teardown releases the journal newest first, so by then everything built
on the data has been released (the filesystem trimmed, its times reset
in a reproducible build, unmounted; a LUKS container on it closed),
and nothing it is built on has been (the partition, the LV, a LUKS
container under it, the loop device).  The release checks that both
devices are still the ones recorded, runs ``veritysetup format`` with
the salt and UUID chosen at create (so running it again gives the same
tree), signs the root hash when asked (a detached PKCS#7 signature of
the hex string, ``openssl cms``, as the kernel and systemd check it),
and returns the root hash, which teardown records in the state
(``getval verity-roothash``).  Create's undo and ``delete`` skip it.

The booted system opens the device as ``/dev/mapper/<name>``: for the
filesystem mounted at ``/`` from the kernel command line (``roothash=``,
with ``systemd.verity_root_data=`` and ``systemd.verity_root_hash=``);
for any other, from ``/etc/veritytab``, whose line is known only once the
hash is.  So the release writes that line into the image's root
filesystem, which is still mounted then (the node is created after the
mount of ``/``), and the state keeps it for ``writefstab``.

Host tools: veritysetup (package cryptsetup-bin), openssl to sign.
"""
from diskimage_builder.block_device import plugin
from diskimage_builder.block_device.errors import ConfigError
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.level1 import veritytree as tree
from diskimage_builder.block_device.level1.veritytree import BLOCK_SIZES
from diskimage_builder.block_device.level1.veritytree import DIGEST_BYTES
from diskimage_builder.block_device.level1.veritytree import SALT_PATTERN
from diskimage_builder.block_device.level1.veritytree import UUID_PATTERN


# -- the node -----------------------------------------------------------------

class VerityNode(plugin.Node):
    """The data device, offered as it is; its hash tree at umount."""
    kind = 'verity'
    needs_kernel = ('the kernel path (its hash tree is computed over the '
                    'data device once the filesystem there is unmounted)')
    provides = frozenset([plugin.BLOCK_DEVICE, plugin.VERITY])
    accepts = (plugin.BLOCK_DEVICE, plugin.BLOCK_DEVICE)

    def base_path(self, index):
        return self.path + ('.base' if index == 0 else '.hash')

    def identifiers(self):
        found = [('device-mapper name', self.name, self.path + '.name')]
        if self.options.get('uuid'):
            found.append(('filesystem UUID', self.options['uuid'].lower(),
                          self.path + '.uuid'))
        return found

    def link(self, graph):
        # The veritytab line is written into the root filesystem when the
        # hash is computed: the mount of / must come off after that, so
        # this node is created after it (unless / is built on it).
        root = root_mount(graph)
        if root is not None and not depends_on(graph, root, self.name) \
                and root.name not in self.after:
            self.after.append(root.name)

    def validate(self, graph, params):
        if self.deps[0] == self.deps[1]:
            raise ConfigError(self.path + '.hash', 'the hash tree needs a '
                              'device of its own, not base %s' % self.deps[0])
        base = graph[self.deps[0]]
        if plugin.PARTITION not in base.provides and \
                not base.facts.get('boot_device'):
            raise ConfigError(self.path + '.base', 'the booted system finds '
                              'the data device by PARTUUID (a partition) or '
                              'by name (an LV, a LUKS mapping, an md array); '
                              '%s is %s' % (base.name, plugin.describe(base)))

    def plan(self, pctx):
        data, hashed = pctx.of(self.deps[0]), pctx.of(self.deps[1])
        if data.size is None:
            return
        args = self.settings()
        if data.size % args['data_block']:
            raise ConfigError(self.path, 'data device %s is %d bytes, not a '
                              'multiple of data-block-size %d' % (
                                  self.deps[0], data.size,
                                  args['data_block']))
        need = tree.hash_tree_bytes(data.size, args['algorithm'],
                                    args['data_block'], args['hash_block'])
        if hashed.size is not None and hashed.size < need:
            raise ConfigError(self.path + '.hash', 'the hash tree of %s (%d '
                              'bytes, %s) takes %d bytes; %s is %d bytes'
                              % (self.deps[0], data.size, args['algorithm'],
                                 need, self.deps[1], hashed.size))
        # At boot the device has sectors of a data block: a filesystem
        # on it (directly, or in a LUKS container) must not use less.
        pctx.set(self, size=data.size, zeroed=data.zeroed, details={
            'hash_tree_bytes': need, 'boot_sector': max(
                args['data_block'], data.details.get('boot_sector', 0))})

    def settings(self, repro=None):
        """What ``veritysetup format`` is given; salt and UUID from the
        config, else from the seed (random without one)."""
        found = {'algorithm': self.options.get('hash-algorithm', 'sha256'),
                 'data_block': self.options.get('data-block-size', 4096),
                 'hash_block': self.options.get('hash-block-size', 4096)}
        if repro is not None:
            found['salt'] = self.options.get('salt') or repro.salt(
                self.name, 'verity salt')
            found['uuid'] = self.options.get('uuid') or str(repro.uuid(
                self.name, 'verity'))
        return found

    def check(self, ctx):
        for key, path in sorted(self.options.get('signature', {}).items()):
            try:
                with open(path, 'rb'):
                    pass
            except OSError as err:
                raise UsageError('%s.signature.%s: cannot read %s: %s' % (
                    self.path, key, path, err.strerror))

    def create(self, ctx):
        data, hashed = ctx.device(self.deps[0]), ctx.device(self.deps[1])
        args = self.settings(ctx.repro)
        head = '%s %s UUID=%s' % (self.name, self.data_spec(ctx),
                                  args['uuid'])
        mounted = mounted_at(ctx.nodes, self.name)
        ctx.hold(self, 'verity-hash', name=self.name, data=data,
                 data_id=ctx.host.device_identity(data), hash=hashed,
                 hash_id=ctx.host.device_identity(hashed),
                 options=self.options.get('options', ''),
                 signature=self.options.get('signature'),
                 veritytab=head if mounted != '/' else '',
                 etc=root_target(ctx, self.name), **args)
        ctx.record(self, device=data, hash_device=hashed, uuid=args['uuid'],
                   salt=args['salt'])
        # Only a recording knows the line now: plan shows it.
        roothash = ctx.pending('roothash of %s' % self.name)
        if roothash and mounted != '/':
            ctx.record(self, veritytab=tree.veritytab_line(
                head, roothash, [self.options['options']]
                if self.options.get('options') else []))

    def data_spec(self, ctx):
        base = ctx.nodes[self.deps[0]]
        if plugin.PARTITION in base.provides:
            return 'PARTUUID=%s' % ctx.known(ctx.results(base.name).get(
                'partuuid'), 'partuuid of %s' % base.name)
        return base.facts['boot_device']


def mounted_at(nodes, name):
    """The mount point of the filesystem built on node *name*."""
    for node in nodes.values():
        if plugin.MOUNT in node.provides and name in [
                below.name for below in plugin.stack_below(nodes,
                                                           node.name)]:
            return node.facts['mount_point']
    return None


def root_target(ctx, name):
    """The mount of the root filesystem, where the veritytab line of
    node *name* goes (None when there is none, or / is built on it)."""
    root = root_mount(ctx.nodes)
    if root is None or depends_on(ctx.nodes, root, name):
        return None
    mounted = ctx.results(root.name)
    return {'target': mounted['target'], 'device': mounted['device'],
            'devnum': ctx.host.devnum(mounted['device'])}


def root_mount(graph):
    for node in graph.values():
        if plugin.MOUNT in node.provides and \
                node.facts.get('mount_point') == '/':
            return node
    return None


def depends_on(graph, node, name):
    """Whether *node* is built on node *name*, however far below."""
    todo, seen = [node], set()
    while todo:
        current = todo.pop()
        if current.name == name:
            return True
        seen.add(current.name)
        todo += [graph[dep] for dep in list(current.deps) + current.after
                 if dep in graph and dep not in seen]
    return False


PATH = {'type': 'string', 'pattern': '^/', 'x-expected': 'an absolute path'}


class Verity(plugin.Plugin):
    SCHEMA = {
        'description': 'A dm-verity hash tree over the data device '
                       '``base``, written to the device ``hash`` once the '
                       'filesystem on ``base`` is final (at ``umount``); '
                       'the booted system opens it read-only as '
                       '``/dev/mapper/<name>``.',
        'type': 'object',
        'additionalProperties': False,
        'required': ['base', 'hash', 'name'],
        'properties': {
            'name': plugin.documented(
                plugin.NAME_SCHEMA, 'The verity device in the booted '
                'system, ``/dev/mapper/<name>`` (not ``control``).  '
                'Default ``verity_<base>``.'),
            'base': plugin.documented(
                plugin.BASE_SCHEMA, 'The data device, which holds a '
                'filesystem read-only at boot: a partition or an LV (or a '
                'LUKS mapping, an md array).'),
            'hash': plugin.documented(
                plugin.BASE_SCHEMA, 'Required: the partition or LV that '
                'receives the hash tree (``plan`` says how large it must '
                'be).'),
            'hash-algorithm': {'enum': sorted(DIGEST_BYTES), 'description':
                               'The hash of the tree.  Default '
                               '``sha256``.'},
            'data-block-size': {'enum': list(BLOCK_SIZES), 'description':
                                'The block size of the data device, 512 '
                                'to 4096.  Default 4096.'},
            'hash-block-size': {'enum': list(BLOCK_SIZES), 'description':
                                'The block size of the hash tree, 512 to '
                                '4096.  Default 4096.'},
            'salt': {'type': 'string', 'pattern': SALT_PATTERN,
                     'x-expected': 'hex digits, at most 256 bytes, or - '
                                   'for none',
                     'description': 'The salt in hex (at most 256 bytes), '
                     'or ``-`` for none.  Default: 32 bytes derived from '
                     'the seed, random without one.'},
            'uuid': {'type': 'string', 'pattern': UUID_PATTERN,
                     'description': 'The UUID of the verity superblock on '
                     'the hash device (veritytab finds the hash device by '
                     'it), unique.  Default: derived from the seed, random '
                     'without one.'},
            'options': {'type': 'string', 'pattern': '^[!-~]+$',
                        'x-expected': 'veritytab options, comma-separated, '
                                      'no spaces',
                        'description': 'veritytab options, comma-separated '
                                       '(``x-initrd.attach``, '
                                       '``panic-on-corruption``...).'},
            'signature': {
                'type': 'object', 'additionalProperties': False,
                'required': ['key-file', 'certificate'],
                'description': 'Sign the root hash (PKCS#7, detached, of '
                               'the hex string, with ``openssl cms``), as '
                               'the kernel and systemd check it.',
                'properties': {
                    'key-file': dict(PATH, description='Required: the '
                                     'absolute path of the private key '
                                     '(PEM).'),
                    'certificate': dict(PATH, description='Required: the '
                                        'absolute path of its certificate '
                                        '(PEM).')}},
        },
    }
    NODE_TYPES = (VerityNode,)

    @classmethod
    def expand(cls, plugin_name, options, path, params):
        if options['name'] == 'control':
            raise ConfigError(path + '.name', "'control' is device-mapper's "
                              "own /dev/mapper/control: choose another name")
        return [VerityNode(plugin_name, options['name'], path,
                           [options['base'], options['hash']], options,
                           {'boot_device': '/dev/mapper/' + options['name']})]
