"""The structure figures of the package, read from its source (nothing is
imported or run):

* lines per module, and the modules over 400 lines;
* functions over 40 lines;
* for each node class (a subclass of a ``...Node``), the methods its
  author wrote;
* import cycles between modules, and imports from a lower layer to a
  higher one (the layers are listed in LAYERS, lowest first).

    python3 bench/structure.py [--json]
"""
import argparse
import ast
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, 'diskimage_builder', 'block_device')
PREFIX = 'diskimage_builder.block_device.'
# Lowest first: a module may import from its own layer or lower ones.
LAYERS = [
    ('base', ('errors', 'sizes', 'runner', 'params_file', 'yamldoc',
              'graph', 'host', 'trust', 'claims', 'cmdopts', 'disklabel')),
    ('core', ('node', 'state', 'resources', 'plugin', 'context', 'tools',
              'repro')),
    ('level0', ('level0',)),
    ('level1', ('level1',)),
    ('level2', ('level2',)),
    ('level3', ('level3',)),
    ('level4', ('level4',)),
    ('driver', ('config', 'blockdevice', 'teardown', 'planview', 'getval',
                'build', 'offline', 'schemadoc')),
    ('cli', ('cli', 'cmd', '__main__')),
]


def modules():
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d not in ('tests', '__pycache__')]
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep,
                                                                  '.')
                yield rel.replace('.__init__', ''), path


def layer_of(module):
    top = module.split('.')[0]
    for index, (_, members) in enumerate(LAYERS):
        if top in members:
            return index
    return None


def imports(tree):
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith(PREFIX.rstrip('.')):
            base = node.module[len(PREFIX):] if node.module != \
                PREFIX.rstrip('.') else ''
            for alias in node.names:
                name = (base + '.' + alias.name).lstrip('.')
                found.add(name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PREFIX):
                    found.add(alias.name[len(PREFIX):])
    return found


def measure():
    known = dict(modules())
    figures = {'modules': {}, 'long_functions': [], 'node_methods': {},
               'edges': {}}
    for module, path in sorted(known.items()):
        with open(path) as src:
            text = src.read()
        tree = ast.parse(text)
        figures['modules'][module] = len(text.splitlines())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 40:
                    figures['long_functions'].append(
                        [module, node.name, length])
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, 'attr', getattr(b, 'id', '')).endswith('Node')
                    for b in node.bases):
                figures['node_methods'][module + '.' + node.name] = sorted(
                    f.name for f in node.body
                    if isinstance(f, ast.FunctionDef) and not any(
                        getattr(d, 'id', '') in ('property', 'classmethod',
                                                 'staticmethod')
                        for d in f.decorator_list))
        edges = set()
        for name in imports(tree):
            while name and name not in known:
                name = name.rpartition('.')[0]
            if name and name != module:
                edges.add(name)
        figures['edges'][module] = sorted(edges)
    figures['cycles'] = cycles(figures['edges'])
    figures['upward'] = [[a, b] for a, targets in figures['edges'].items()
                         for b in targets
                         if None not in (layer_of(a), layer_of(b)) and
                         layer_of(b) > layer_of(a)]
    return figures


def cycles(edges):
    found, state = [], {}

    def visit(node, path):
        state[node] = 'open'
        for nxt in edges.get(node, []):
            if state.get(nxt) == 'open':
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 'done'
    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args()
    figures = measure()
    if args.json:
        json.dump(figures, sys.stdout, indent=1)
        return
    big = {m: n for m, n in figures['modules'].items() if n > 400}
    print('modules over 400 lines: %s' % (big or 'none'))
    print('functions over 40 lines: %s'
          % (figures['long_functions'] or 'none'))
    counts = [len(m) for m in figures['node_methods'].values()]
    print('node classes: %d, methods each: mean %.1f, max %d'
          % (len(counts), sum(counts) / max(len(counts), 1),
             max(counts or [0])))
    for name, methods in sorted(figures['node_methods'].items()):
        print('  %-40s %s' % (name, ' '.join(methods)))
    print('import cycles: %s' % (figures['cycles'] or 'none'))
    print('imports from a lower layer to a higher one: %s'
          % (figures['upward'] or 'none'))


if __name__ == '__main__':
    main()
