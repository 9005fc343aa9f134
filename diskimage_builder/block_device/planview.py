"""``plan``: the layout a config will have, worked out without touching
any device and without root.

Three renderings: a tree like lsblk's (for people), JSON (for programs,
format below) and Graphviz dot.  The JSON document::

    {"version": 1,
     "nodes": [{"name", "plugin", "kind", "path", "deps",
                "facts": {...},      # what init knows: label, mount point
                "planned": {...}}],  # sizes, offsets, extents, in bytes
     "fstab": ["LABEL=... / ext4 defaults 0 2", ...],
     "files": {"crypttab": [...], "mdadm.conf": [...],   # when any
               "veritytab": [...]},
     "commands": [{"node", "phase",      # "preflight" or "create"
                   "argv": [...],
                   "when": "..."}],      # only on conditional commands
     "refused": ["..."]}                 # what the host refuses now

Nodes and commands are in creation order.  A value only a real run knows
(a device, a filesystem UUID) is a placeholder: ``<device of NAME>``,
``<uuid of NAME>``.
"""
import json
import re
import shlex

from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.context import PLACEHOLDER_PATTERN
from diskimage_builder.block_device.host import unescape
from diskimage_builder.block_device.node import SYSTEM_FILES

PLAN_FORMAT_VERSION = 1


def build_plan(nodes, planned, recording):
    """The plan document of *nodes*, their :class:`Planned` and a
    recorded run of their check and create."""
    out = []
    for node in nodes:
        plan = planned.get(node.name)
        out.append({'name': node.name, 'plugin': node.plugin,
                    'kind': node.kind, 'path': node.path,
                    'deps': node.deps, 'facts': node.facts,
                    'planned': plan.to_json() if plan else {}})
    files = {}
    for filename in SYSTEM_FILES:
        lines = [_readable(recording.recorded[node.name][filename])
                 for node in nodes
                 if filename in recording.recorded.get(node.name, {})]
        if lines or filename == 'fstab':
            files[filename] = lines
    return {'version': PLAN_FORMAT_VERSION, 'nodes': out,
            'fstab': files.pop('fstab'), 'files': files,
            'commands': list(recording.commands),
            'refused': list(recording.refused)}


def _readable(line):
    """*line* with its placeholders as written, not escaped as the file
    escapes spaces (``<uuid of root>``, not ``<uuid\\040of\\040root>``)."""
    return re.sub(r'<[^<>\s]+>', lambda found: unescape(found.group()), line)


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
    for filename, text in [('fstab', plan['fstab'])] + sorted(
            plan['files'].items()):
        if text:
            lines += ['', filename + ':'] + ['  ' + line for line in text]
    if plan['refused']:
        lines += ['', 'create would refuse, as the host is now:'] + [
            '  ' + line for line in plan['refused']]
    if plan['commands']:
        lines += ['', 'commands:']
        for entry in plan['commands']:
            lines.append('  %s' % show_argv(entry['argv']))
            if entry.get('when'):
                lines.append('      (only when %s)' % entry['when'])
    return '\n'.join(lines)


def show_argv(argv):
    """A command line to read or paste; placeholders stay readable."""
    return ' '.join(arg if re.search(PLACEHOLDER_PATTERN, arg)
                    else shlex.quote(arg) for arg in argv)


def _size(value):
    return sizes.human(value) if value else '-'


def _details(node):
    facts, planned = node['facts'], node['planned']
    bits = []
    if 'first_lba' in planned:
        bits.append('#%d sectors %d-%d' % (planned['number'],
                                           planned['first_lba'],
                                           planned['last_lba']))
    for key in ('image_path', 'label', 'fstype', 'mount_point', 'subvol'):
        if facts.get(key):
            bits.append('%s=%s' % (key, facts[key]))
    if facts.get('subvolumes'):
        bits.append('subvolumes=%s' % ','.join(
            item['path'] + ('(default)' if item.get('default') else '')
            for item in facts['subvolumes']))
    if 'hash_tree_bytes' in planned:
        bits.append('hash tree %s on %s, made at umount' % (
            sizes.human(planned['hash_tree_bytes']), node['deps'][1]))
    for key in ('extents', 'extent_size', 'sector_size'):
        if key in planned:
            bits.append('%s=%s' % (key, planned[key]))
    return ' '.join(bits)
