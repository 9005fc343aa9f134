"""``plan``: the layout a config will have, worked out without touching
any device and without root.

Three renderings: a tree like lsblk's (for people), JSON (for programs,
format below) and Graphviz dot.  The JSON document::

    {"version": 1,
     "nodes": [{"name", "plugin", "kind", "path", "deps",
                "facts": {...},      # what init knows: label, mount point
                "planned": {...}}],  # sizes, offsets, extents, in bytes
     "fstab": ["LABEL=... / ext4 defaults 0 1", ...],
     "commands": [{"node", "phase",      # "preflight" or "create"
                   "argv": [...],
                   "when": "..."}]}      # only on conditional commands

Nodes and commands are in creation order.  Values that only exist once
created (a filesystem UUID) are absent; a device known only once created
is a placeholder ``<device of NAME>`` in the commands.
"""
import json
import re
import shlex

from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import sizes

PLAN_FORMAT_VERSION = 1


def build_plan(params, nodes, planned, commands=()):
    out = []
    for node in nodes:
        out.append({'name': node.name, 'plugin': node.plugin,
                    'kind': node.kind, 'path': node.path,
                    'deps': node.deps, 'facts': node.facts,
                    'planned': planned.get(node.name, {})})
    return {'version': PLAN_FORMAT_VERSION, 'nodes': out,
            'fstab': _fstab_preview(nodes), 'commands': list(commands)}


def _fstab_preview(nodes):
    by_name = {node.name: node for node in nodes}
    lines = []
    for node in nodes:
        if node.kind != 'fstab':
            continue
        mount = by_name[node.deps[0]]
        mkfs = by_name[mount.deps[0]]
        spec = node.options.get('spec', 'label')
        source = ('LABEL=%s' % mkfs.facts['label'] if spec == 'label'
                  else '%s=<known after create>' % spec.upper())
        lines.append(node.line(mkfs.facts['fstype'],
                               mount.facts['mount_point'], source))
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
    if plan['commands']:
        lines += ['', 'commands:']
        for entry in plan['commands']:
            lines.append('  %s' % show_argv(entry['argv']))
            if entry.get('when'):
                lines.append('      (only when %s)' % entry['when'])
    return '\n'.join(lines)


def show_argv(argv):
    """A command line to read or paste; placeholders stay readable."""
    return ' '.join(arg if re.search(plugin.PLACEHOLDER_PATTERN, arg)
                    else shlex.quote(arg) for arg in argv)


def compare_commands(planned, ran):
    """How the commands create *ran* (argv lists, in order) differ from
    the *planned* ones; an empty list when they are the same.

    A placeholder matches any one value, but the same value wherever it
    appears; a conditional planned command may be missing.
    """
    bound = {}
    problems = []
    position = 0
    for entry in planned:
        actual = ran[position] if position < len(ran) else None
        values = _match(entry['argv'], actual, bound)
        if values is not None:
            bound.update(values)
            position += 1
        elif not entry.get('when'):
            problems.append('command %d: planned %s, ran %s' % (
                position + 1, show_argv(entry['argv']),
                'nothing more' if actual is None else shlex.join(actual)))
            return problems
    problems += ['command %d: ran %s, which was not planned'
                 % (number + 1, shlex.join(argv))
                 for number, argv in enumerate(ran[position:], position)]
    return problems


def _match(pattern, argv, bound):
    """The placeholder values that make *pattern* read as *argv*, or None
    when no values do."""
    if argv is None or len(pattern) != len(argv):
        return None
    values = {}
    for want, got in zip(pattern, argv):
        names = re.findall(plugin.PLACEHOLDER_PATTERN, want)
        groups = {}
        regex = ''
        for index, piece in enumerate(re.split(plugin.PLACEHOLDER_PATTERN,
                                               want)):
            regex += re.escape(piece)
            if index == len(names):
                break
            name = names[index]
            known = bound.get(name, values.get(name))
            if known is not None:
                regex += re.escape(known)
            elif name in groups:
                regex += '(?P=%s)' % groups[name]
            else:
                groups[name] = 'p%d' % index
                regex += '(?P<p%d>[^,]+?)' % index
        found = re.fullmatch(regex, got)
        if found is None:
            return None
        values.update((name, found.group(group))
                      for name, group in groups.items())
    return values


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
