"""``plan``: the layout a config will have, worked out without touching
any device and without root.

Three renderings: a tree like lsblk's (for people), JSON (for programs,
format below) and Graphviz dot.  The JSON document::

    {"version": 1,
     "nodes": [{"name", "plugin", "kind", "path", "deps",
                "facts": {...},      # what init knows: label, mount point
                "planned": {...}}],  # sizes, offsets, extents, in bytes
     "fstab": ["LABEL=... / ext4 defaults 0 1", ...]}

Nodes are in creation order.  Values that only exist once created (a
filesystem UUID, a loop device) are absent.
"""
import json

from diskimage_builder.block_device import sizes

PLAN_FORMAT_VERSION = 1


def build_plan(params, nodes, planned):
    out = []
    for node in nodes:
        out.append({'name': node.name, 'plugin': node.plugin,
                    'kind': node.kind, 'path': node.path,
                    'deps': node.deps, 'facts': node.facts,
                    'planned': planned.get(node.name, {})})
    return {'version': PLAN_FORMAT_VERSION, 'nodes': out,
            'fstab': _fstab_preview(nodes)}


def _fstab_preview(nodes):
    by_name = {node.name: node for node in nodes}
    lines = []
    for node in nodes:
        if node.kind != 'fstab':
            continue
        mount = by_name[node.deps[0]]
        mkfs = by_name[mount.deps[0]]
        point = mount.facts['mount_point']
        spec = node.options.get('spec', 'label')
        source = ('LABEL=%s' % mkfs.facts['label'] if spec == 'label'
                  else '%s=<known after create>' % spec.upper())
        swap = mkfs.facts['fstype'] == 'swap'
        passno = node.options.get('fsck-passno',
                                  0 if swap else 1 if point == '/' else 2)
        lines.append('%s %s %s %s %d %d' % (
            source, point, mkfs.facts['fstype'],
            node.options.get('options', 'defaults'),
            node.options.get('dump-freq', 0), passno))
    return lines


def render(plan, fmt):
    if fmt == 'json':
        return json.dumps(plan, indent=1, sort_keys=True)
    if fmt == 'dot':
        return _dot(plan)
    return _tree(plan)


def _dot(plan):
    lines = ['digraph block_device {', '  rankdir=LR;',
             '  node [shape=box, fontname="monospace"];']
    for node in plan['nodes']:
        label = '%s\\n%s' % (node['name'], node['kind'])
        size = node['planned'].get('size')
        if size:
            label += '\\n%s' % sizes.human(size)
        lines.append('  "%s" [label="%s"];' % (node['name'], label))
        for dep in node['deps']:
            lines.append('  "%s" -> "%s";' % (dep, node['name']))
    lines.append('}')
    return '\n'.join(lines)


def _tree(plan):
    children = {}
    roots = []
    for node in plan['nodes']:
        if node['deps']:
            children.setdefault(node['deps'][0], []).append(node)
        else:
            roots.append(node)
    lines = ['%-40s %-10s %10s  %s' % ('NAME', 'KIND', 'SIZE', 'DETAILS')]

    def walk(node, prefix, last, top):
        branch = '' if top else (prefix + ('`-' if last else '|-'))
        lines.append('%-40s %-10s %10s  %s' % (
            (branch + node['name'])[:40], node['kind'],
            _size(node['planned'].get('size')), _details(node)))
        below = children.get(node['name'], [])
        for index, child in enumerate(below):
            walk(child, '' if top else prefix + ('  ' if last else '| '),
                 index == len(below) - 1, False)

    for root in roots:
        walk(root, '', True, True)
    if plan['fstab']:
        lines += ['', 'fstab:'] + ['  ' + line for line in plan['fstab']]
    return '\n'.join(lines)


def _size(value):
    return sizes.human(value) if value else '-'


def _details(node):
    facts, planned = node['facts'], node['planned']
    bits = []
    if 'first_lba' in planned:
        bits.append('#%d sectors %d-%d' % (planned['number'],
                                           planned['first_lba'],
                                           planned['last_lba']))
    for key in ('image_path', 'label', 'fstype', 'mount_point'):
        if facts.get(key):
            bits.append('%s=%s' % (key, facts[key]))
    for key in ('extents', 'extent_size', 'sector_size'):
        if key in planned:
            bits.append('%s=%s' % (key, planned[key]))
    return ' '.join(bits)
