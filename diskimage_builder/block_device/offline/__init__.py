"""The offline build: a disk image made from a tree with no root, no loop
device and no device node (``build --offline``).

Every node of the config is made by its ``offline`` step instead of its
``create``: the image is a sparse file, the partition table is written
into it in-process, a partition is a region of it (offset and size), and
each filesystem is made by its own tool directly from its part of the
tree (:mod:`.content`), in place at its region's offset or in a scratch
file copied in sparsely (:mod:`.filesystems`).  Nothing is mounted, so
nothing needs the kernel, and nothing is held: a failure leaves only the
scratch folder, which the caller removes.

Filesystem identities (UUIDs) are chosen before any filesystem is made,
from the seed when there is one: the fstab lines are then known before
the root filesystem is filled, and go into it as ``/etc/fstab`` (unless
the tree has one), as the kernel path's ``build`` installs them.
"""
import dataclasses
import os

from diskimage_builder.block_device import context as context_mod
from diskimage_builder.block_device.errors import BlockDeviceError
from diskimage_builder.block_device.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Region:
    """Where a node's bytes are in the image file."""
    offset: int
    size: int


def refusals(nodes):
    """One line per node the offline build cannot make, naming what it
    needs: checked before anything is written."""
    return ['%s: %s needs %s; build --offline makes partition tables, '
            'partitions and filesystems in an image file (use the kernel '
            'path: build as root with loop devices)'
            % (node.path, node.plugin, node.needs_kernel)
            for node in nodes if node.needs_kernel]


def check(nodes):
    lines = refusals(nodes)
    if lines:
        raise UsageError(lines[0] + (' (and %d more node(s))' % (
            len(lines) - 1) if len(lines) > 1 else ''))


class OfflineContext(context_mod.Context):
    """What a node's ``offline`` step acts through: the image file, the
    regions of the nodes, their results, and the filesystems to fill once
    every identity is known."""

    def __init__(self, runner, params, nodes, planned, repro=None):
        super().__init__(params, nodes, planned, repro=repro)
        self.runner = runner
        self.image = None
        self.regions = {}
        self.values = {}
        self.fills = []         # (mkfs node, region, uuid), in order

    def run(self, argv, env=None):
        return self.runner.run(argv, env=env)

    def say(self, message, *args):
        context_mod.LOG.info(message, *args)

    def set_image(self, node, path, size):
        """The image file, made sparse (a file already there is
        replaced, a symlink removed, never followed)."""
        if os.path.lexists(path):
            os.unlink(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                     os.O_NOFOLLOW, 0o644)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
        self.image = path
        self.set_region(node, Region(0, size))

    def set_region(self, node, region):
        self.regions[node.name] = region

    def region(self, name):
        return self.regions[name]

    def sub_region(self, name, offset, size):
        """The region *size* bytes long at *offset* into *name*'s."""
        return Region(self.regions[name].offset + offset, size)

    def write_at(self, region, writes):
        """Write (offset, bytes) pairs into *region* of the image."""
        fd = os.open(self.image, os.O_WRONLY | os.O_CLOEXEC)
        try:
            for offset, data in writes:
                os.pwrite(fd, data, region.offset + offset)
        finally:
            os.close(fd)

    def record(self, node, **values):
        self.values.setdefault(node.name, {}).update(values)

    def results(self, name):
        return context_mod.frozen(self.values.get(name, {}))

    def known(self, value, what):
        if not value:
            raise BlockDeviceError('missing: %s' % what)
        return value

    def fill(self, node, region, fs_uuid):
        """Make *node*'s filesystem in *region* once every identity is
        known (the fstab goes into the root filesystem)."""
        self.fills.append((node, region, fs_uuid))
