"""The node contract: what one node of the graph declares and does.

A *node* is one real thing the build creates: an image file with its
loop device, a partition table, a partition, a filesystem, a mount.  A
plugin author writes, per node class:

``provides`` / ``accepts``
    capabilities (below): what the node offers the nodes built on it,
    and what each of its bases must offer.  One graph check
    (:func:`check_bases`) refuses a base that cannot serve, and a second
    user of something only one can use (a block device, a PV, a
    filesystem, a mount).
``validate(graph, params)`` (optional)
    whole-config checks the schema cannot express.
``plan(pctx)`` (optional)
    pure size arithmetic: ``pctx.set(self, size=..., ...)``.
``check(ctx)`` (optional)
    read-only checks of the host before anything is made (a name taken,
    a disk in use); may return lines saying what was checked.
``create(ctx)``
    the one statement of what the node does: each resource journaled
    with ``ctx.hold`` before it is acquired, every command through
    ``ctx.run``, every read of the system through ``ctx.host``.
``offline(octx)`` with ``needs_kernel = None`` (optional)
    the node made in an image file by user-space tools, from a tree, with
    no root and no device (:mod:`offline`).

Everything else is derived by running ``check`` and ``create`` against a
recording context (:mod:`context`): the commands ``plan`` lists, the host
tools ``create`` needs, the names it claims host-wide, and what ``cleanup
--from-system`` looks for when the journal is lost.
"""
import dataclasses
import types

from diskimage_builder.block_device.errors import ConfigError

# Capabilities: what a node offers the nodes built on it.
BLOCK_DEVICE = 'block-device'        # a device node to build on
PARTITION = 'partition'              # a block device with a PARTUUID
PARTITION_TABLE = 'partition-table'  # partitions live in it
LVM_PV = 'lvm-pv'                    # a VG is made of it
LVM_VG = 'lvm-vg'                    # LVs are made in it
LVM_LV = 'lvm-lv'                    # an LV (LVM does not scan LVs for PVs)
LVM_THIN_POOL = 'lvm-thin-pool'      # thin LVs take their blocks from it
FILESYSTEM = 'filesystem'            # a filesystem (or a swap area)
MOUNT = 'mount'                      # a mount point of the image
VERITY = 'verity'                    # read-only, checked by dm-verity at boot

# How messages name each capability (the hint says what config makes it).
DESCRIBED = {BLOCK_DEVICE: 'a block device', PARTITION: 'a partition',
             PARTITION_TABLE: 'a partition table',
             LVM_PV: 'an LVM PV (a pvs entry)',
             LVM_VG: 'an LVM VG (a vgs entry)', LVM_LV: 'an LVM LV',
             LVM_THIN_POOL: 'a thin pool (an LV of type thin-pool)',
             FILESYSTEM: 'a filesystem (a mkfs node)',
             MOUNT: 'a mount (a mount node)',
             VERITY: 'a dm-verity device (a verity node)'}
# The files ``writefstab`` writes below built/etc, each from the node
# results that hold a line under its name (fstab for filesystems,
# crypttab for LUKS, mdadm.conf for md, veritytab for dm-verity).
SYSTEM_FILES = ('fstab', 'crypttab', 'mdadm.conf', 'veritytab')
# What only one node can build on.
EXCLUSIVE = frozenset([BLOCK_DEVICE, LVM_PV, FILESYSTEM, MOUNT])


@dataclasses.dataclass(frozen=True)
class Planned:
    """What planning worked out for one node, before anything exists."""
    size: int | None = None       # bytes of the device it provides
    sector_size: int = 512
    zeroed: bool = False          # reads as zeros (a new sparse image...)
    # Offsets, extents... by name; a read-only mapping.
    details: types.MappingProxyType = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({}))

    def to_json(self):
        """One flat mapping: the fields, then the details."""
        flat = {'size': self.size, 'sector_size': self.sector_size,
                'zeroed': self.zeroed}
        flat.update(self.details)
        return flat


class Node:
    """One node of the graph; built at init, rebuilt from JSON later."""

    kind = None          # key of the node class within its plugin
    level = None         # 0 for the nodes that provide a disk
    provides = frozenset()
    # The capability each base must provide, by position (the last one
    # stands for the rest); empty: anything.
    accepts = ()

    def __init__(self, plugin, name, path, deps, options, facts=None):
        self.plugin = plugin
        self.name = name
        self.path = path
        self.deps = list(deps)      # its bases
        self.after = []             # nodes it is only ordered after
        self.options = options
        # Static facts the init phase works out (label, mount point...):
        # getval reads them without importing any plugin.  A block device
        # with a stable name in the booted system gives it as boot_device
        # (/dev/mapper/<name>, /dev/<vg>/<lv>): what a veritytab or
        # crypttab line built on it names.
        self.facts = facts or {}

    def to_json(self):
        return {'plugin': self.plugin, 'kind': self.kind, 'name': self.name,
                'path': self.path, 'deps': self.deps, 'after': self.after,
                'level': self.level, 'options': self.options,
                'facts': self.facts}

    @classmethod
    def from_json(cls, spec):
        node = cls(spec['plugin'], spec['name'], spec['path'], spec['deps'],
                   spec['options'], spec['facts'])
        node.after = list(spec.get('after', []))
        return node

    def link(self, graph):
        """Add order that only the whole graph reveals (``self.after``)."""

    def validate(self, graph, params):
        """Raise ConfigError for anything wrong with this node in *graph*."""

    def identifiers(self):
        """Identifiers the config gives this node that must be unique in
        the image, as (namespace, normalised value, YAML path): a
        filesystem UUID, a PARTUUID, a device-mapper name.  init refuses
        two nodes with the same one."""
        return []

    def base_path(self, index):
        """The YAML path of base *index*, for messages."""
        return self.path + ('.base' if len(self.deps) == 1
                            else '.base[%d]' % index)

    def plan(self, pctx):
        """Work out sizes and offsets with no side effect (may raise)."""

    def check(self, ctx):
        """Read-only checks of the host before anything is made; raise
        UsageError to refuse.  May return lines saying what was
        checked."""

    def create(self, ctx):
        raise NotImplementedError(
            '%s node %s has no create step' % (self.plugin, self.name))

    # What the node needs the kernel for, when it cannot be made in an
    # image file by user-space tools alone (``build --offline`` refuses
    # it, naming this); None for nodes with an ``offline`` step.
    needs_kernel = 'the kernel path'

    def offline(self, octx):
        """The node made without the kernel: in the image file, from the
        tree (``build --offline``, :mod:`offline`)."""
        raise NotImplementedError(
            '%s node %s has no offline step' % (self.plugin, self.name))


def check_bases(ordered):
    """The one graph check: each base provides what its user accepts,
    and nothing only one node can use has two users."""
    users = {}
    for node in ordered.values():
        for index, name in enumerate(node.deps):
            base = ordered[name]
            wanted = node.accepts[min(index, len(node.accepts) - 1)] \
                if node.accepts else None
            if wanted is None:
                continue
            if wanted not in base.provides:
                raise ConfigError(node.base_path(index), '%s needs %s as '
                                  'base; %s is %s' % (node.plugin,
                                                      DESCRIBED[wanted],
                                                      name, describe(base)))
            if wanted in EXCLUSIVE:
                first = users.setdefault((name, wanted), node)
                if first is not node:
                    raise ConfigError(node.base_path(index), '%s, %s, is '
                                      'already used by %s (%s); only one '
                                      'node can use it' % (
                                          name, DESCRIBED[wanted],
                                          first.name, first.path))


def describe(node):
    """What *node* is, for messages: its main capability."""
    for capability in (LVM_THIN_POOL, LVM_LV, LVM_VG, LVM_PV, FILESYSTEM,
                       MOUNT, PARTITION_TABLE, PARTITION, BLOCK_DEVICE):
        if capability in node.provides:
            return DESCRIBED[capability]
    return 'a %s node, which provides nothing to build on' % node.plugin


def dependents(graph, node):
    """The nodes that use *node* as a base."""
    return [other for other in graph.values() if node.name in other.deps]


def earlier(graph, node):
    """The nodes created before *node* (*graph* is in creation order)."""
    for other in graph.values():
        if other is node:
            return
        yield other


def stack_below(nodes, name):
    """The node *name* and the nodes below it, each one's first base in
    turn (a filesystem, its LUKS mapping, its partition...); *nodes* maps
    names to nodes."""
    while name in nodes:
        yield nodes[name]
        deps = nodes[name].deps
        name = deps[0] if deps else None


def as_list(value):
    """A ``base`` may be one name or a list of names."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
