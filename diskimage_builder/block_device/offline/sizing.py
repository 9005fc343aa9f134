"""``size: auto`` on a partition and ``build --size auto``: sizes worked
out from the tree, written into a copy of the config before either path
builds it, so the kernel path and the offline one make the same layout.

A partition of size auto gets the smallest size that holds the
filesystem on it with its part of the tree (:mod:`.fit`), rounded to whole
MiB, within its ``min-size`` and ``max-size`` and with its ``headroom``;
when the fit needs more inodes than the filesystem's default, the mkfs
entry gets the ``-N`` it relies on.  An image of size auto is the
smallest whole number of MiB its partition table's layout fits in.
"""
import os

import yaml

from diskimage_builder.block_device import config as config_mod
from diskimage_builder.block_device import node as node_mod
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device import yamldoc
from diskimage_builder.block_device.disklabel import layout
from diskimage_builder.block_device.errors import UsageError
from diskimage_builder.block_device.offline import content
from diskimage_builder.block_device.offline import driver
from diskimage_builder.block_device.offline import fit

AUTO = 'auto'
MIB = 1 << 20


def resolve(params, tree, runner, scratch, image_auto):
    """(params naming a config with every auto size worked out, the
    parts of the tree by filesystem); *params* is left as it is."""
    items = config_mod.read_config(params)
    nodes = config_mod.build(items, params)
    parts = driver.parts_of(nodes, tree)
    trials = fit.Trials(runner, scratch)
    for node in nodes:
        if node_mod.PARTITION in node.provides and \
                node.options.get('size') == AUTO:
            _fit_partition(node, nodes, items, parts, trials, scratch,
                           runner)
    resolved = dict(params, config=os.path.join(scratch, 'config.yaml'))
    with open(resolved['config'], 'w') as out:
        yaml.safe_dump(items, out, default_flow_style=False)
    if image_auto:
        nodes = config_mod.build(items, resolved)
        resolved['image-size'] = '%d' % image_bytes(nodes)
    return resolved, parts


def _fit_partition(node, nodes, items, parts, trials, scratch, runner):
    filesystems = [n for n in nodes if node.name in n.deps and
                   node_mod.FILESYSTEM in n.provides]
    if not filesystems:
        raise UsageError('%s.size: auto fits a filesystem to its content; '
                         'this partition has no mkfs on it' % node.path)
    mkfs = filesystems[0]
    part, scan, _ = parts.get(mkfs.name) or (None, content.Scan(), None)
    if mkfs.fstype == 'btrfs':
        scan.staged = content.stage(part, os.path.join(
            scratch, 'fit', mkfs.name), {}, runner) if part else \
            _empty(os.path.join(scratch, 'fit', mkfs.name))
    options = node.options
    found = fit.fit(mkfs.fstype, scan, trials,
                    headroom=_bytes(options, 'headroom', 0),
                    minimum=_bytes(options, 'min-size', 0),
                    maximum=_bytes(options, 'max-size', None),
                    where=node.path)
    entry = yamldoc.at(items, node.path)
    entry['size'] = found.size
    for key in ('min-size', 'max-size', 'headroom'):
        entry.pop(key, None)        # worked into the size now
    if found.opts:
        yamldoc.at(items, mkfs.path)['opts'] = \
            list(mkfs.facts['opts']) + list(found.opts)


def _bytes(options, key, default):
    return sizes.parse_size(options[key]) if key in options else default


def _empty(folder):
    os.makedirs(folder)
    return folder


def image_bytes(nodes):
    """The smallest whole number of MiB the first disk's layout fits in,
    or the size of the filesystem made straight on it."""
    disk = next(node for node in nodes if node.level == 0)
    users = [node for node in nodes if disk.name in node.deps]
    tables = [n for n in users if node_mod.PARTITION_TABLE in n.provides]
    if not tables:
        raise UsageError('--size auto needs a partition table with size '
                         'auto or fixed partition sizes on %s' % disk.name)
    table = tables[0]
    requests = table.requests()
    if any(isinstance(r.size, str) for r in requests):
        raise UsageError('%s: --size auto needs every partition of a fixed '
                         'size or size auto: a percentage of a size worked '
                         'out from them is a circle' % table.path)
    sector = disk.facts.get('block_size', 512)
    align = sizes.parse_size(table.options.get('align', '1MiB'))
    size = -(-sum(r.size for r in requests) // MIB) * MIB + MIB
    for _ in range(64 + 2 * len(requests)):
        try:
            layout.place(table.label, size, sector, align, requests,
                         table.options.get('sizing', 'dib'))
            return size
        except layout.LayoutError:
            size += MIB
    raise UsageError('%s: no image size found for the layout' % table.path)
