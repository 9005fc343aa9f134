"""The node graph: every node names the nodes it builds on; this module
orders them (standard library graphlib) and reports the three ways a graph
can be wrong: a name used twice, a base that names nothing, a cycle.

Ties are broken by config order, so the creation order is stable and
predictable from the YAML alone.
"""
import graphlib
import heapq

from diskimage_builder.block_device.errors import ConfigError


def order(nodes):
    """Return *nodes* (objects with .name, .path, .deps and maybe .after)
    in creation order."""
    by_name = {}
    for node in nodes:
        if node.name in by_name:
            raise ConfigError(node.path + '.name', 'duplicate name %r: it is '
                              'also used at %s' % (node.name,
                                                   by_name[node.name].path))
        by_name[node.name] = node
    position = {node.name: index for index, node in enumerate(nodes)}
    sorter = graphlib.TopologicalSorter()
    for node in nodes:
        for dep in node.deps:
            if dep not in by_name:
                raise ConfigError(node.path + '.base',
                                  'base %r names no node (known: %s)'
                                  % (dep, ', '.join(sorted(
                                      n for n in by_name
                                      if not n.startswith('table:')))))
        # A node may also be ordered after nodes it does not build on
        # (an fstab line after the line of the mount before it).
        sorter.add(node.name, *node.deps, *getattr(node, 'after', ()))
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        cycle = err.args[1]
        raise ConfigError(by_name[cycle[0]].path,
                          'dependency cycle: %s' % ' -> '.join(cycle))
    ready = []
    result = []
    while sorter.is_active():
        for name in sorter.get_ready():
            heapq.heappush(ready, (position[name], name))
        _, name = heapq.heappop(ready)
        result.append(by_name[name])
        sorter.done(name)
    return result
