"""From YAML to a checked graph.

The element author's YAML is a list of one-key mappings, the key being a
plugin name.  *Tree form* nests plugins inside their parent::

    - local_loop: {name: image0}
    - partitioning:
        base: image0
        partitions:
          - name: root
            size: 100%
            mkfs: {type: ext4, mount: {mount_point: /}}

*Graph form* writes the same as flat entries linked by ``base``; the two
may be mixed.  Flattening gives a nested child its parent's name as
``base`` and a nameless node the name ``<plugin>_<base>``.  Every entry is
then checked against its plugin's schema, expanded into nodes, linked and
ordered; nothing on the host is touched until all of it passed.
"""
import difflib
import os

from diskimage_builder.block_device import graph
from diskimage_builder.block_device import node as node_mod
from diskimage_builder.block_device import params_file
from diskimage_builder.block_device import plugin as plugin_mod
from diskimage_builder.block_device import sizes
from diskimage_builder.block_device import yamldoc
from diskimage_builder.block_device.errors import ConfigError

PARAMS_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['build-dir'],
    'properties': {
        'config': {'type': 'string', 'minLength': 1},
        'build-dir': {'type': 'string', 'minLength': 1},
        'image-dir': {'type': 'string', 'minLength': 1},
        'image-size': {'type': ['string', 'integer']},
        'mount-base': {'type': 'string', 'minLength': 1},
        'root-fs-type': {'type': 'string', 'minLength': 1},
        'root-fs-opts': {'type': ['string', 'array']},
        # disk-image-create writes "root-label: " (null) unless told one.
        'root-label': {'type': ['string', 'null']},
    },
}


def load_params(path):
    params = yamldoc.load(params_file.read(path), 'params', 'params')
    if params is None:
        params = {}
    check_schema(params, PARAMS_SCHEMA, 'params')
    if 'image-size' in params:
        sizes.parse_size_at(params['image-size'], 'params.image-size')
    for key in ('build-dir', 'image-dir', 'mount-base'):
        if key in params and not os.path.isabs(params[key]):
            raise ConfigError('params.' + key, 'expected an absolute path, '
                              'got %r' % params[key])
    return params


def read_config(params):
    """The YAML config named by params ``config``, as a Python list."""
    source = params.get('config')
    if not source:
        raise ConfigError('params.config', 'missing: name the YAML config '
                          'file')
    if source.startswith('file://'):
        source = source[len('file://'):]
    text = params_file.read_text(source, 'params.config', 'the config')
    return yamldoc.load(text, 'config', '')


def build(items, params):
    """Check a whole config; return its nodes in creation order."""
    return build_with_plugins(items, params)[0]


def build_with_plugins(items, params):
    """(nodes in creation order, {plugin name: plugin class}).  Each node
    keeps its place in the config as ``config_index`` (getval answers
    mount-points in config order, as diskimage-builder does)."""
    yamldoc.check_plain(items, '')
    entries = flatten(items)
    classes = {plugin: cls for plugin, cls, _, _ in entries}
    nodes = []
    for plugin, cls, options, path in entries:
        check_schema(options, cls.SCHEMA, path)
        nodes.extend(cls.expand(plugin, options, path, params))
    for index, node in enumerate(nodes):
        node.config_index = index
    by_name = {node.name: node for node in nodes}
    for node in nodes:
        node.link(by_name)
    ordered = graph.order(nodes)
    by_name = {node.name: node for node in ordered}
    node_mod.check_bases(by_name)
    for node in ordered:
        node.validate(by_name, params)
    check_identifiers(ordered)
    return ordered, classes


def check_identifiers(nodes):
    """Two nodes given the same UUID, PARTUUID, disk id or device-mapper
    name: /dev/disk/by-uuid, fstab and the kernel would see one of them
    only, or refuse the second."""
    seen = {}
    for node in nodes:
        for namespace, value, path in node.identifiers():
            other = seen.setdefault((namespace, value), path)
            if other != path:
                raise ConfigError(path, '%s %s is also given at %s'
                                  % (namespace, value, other))


def flatten(items):
    """Tree form to graph form: [(plugin, class, options, yaml_path)]."""
    if not isinstance(items, list) or not items:
        raise ConfigError('config', 'expected a non-empty list of entries, '
                          'each a mapping with one plugin name as its key')
    known = plugin_mod.names()
    classes = {}
    entries = []

    def visit(name, options, path, parent):
        cls = _plugin_class(name, path, known, classes)
        if not isinstance(options, dict):
            raise ConfigError(path, 'expected a mapping of options, got %s'
                              % yamldoc.type_name(options))
        own, children = cls.split(options, path, known)
        if parent is not None and 'base' not in own:
            own['base'] = parent
        if 'name' not in own:
            default = cls.default_name(name, own)
            if default is not None:
                own['name'] = default
        entries.append((name, cls, own, path))
        for child, child_options, child_path, child_parent in children:
            visit(child, child_options, child_path,
                  child_parent or own.get('name'))

    for index, item in enumerate(items):
        path = '[%d]' % index
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(path, 'expected a mapping with exactly one '
                              'key, the plugin name, got %s'
                              % _describe_item(item))
        (name, options), = item.items()
        visit(str(name), options, '%s.%s' % (path, name), None)
    return entries


def _plugin_class(name, path, known, classes):
    """The class of plugin *name* (loaded once into *classes*)."""
    if name not in classes:
        cls = plugin_mod.load(name) if name in known else None
        if cls is None:
            raise ConfigError(path, 'unknown plugin %r%s (known: %s)'
                              % (name, _did_you_mean(name, known),
                                 ', '.join(known)))
        classes[name] = cls
    return classes[name]


def check_schema(data, schema, path):
    # Imported here: only init validates, and jsonschema is slow to import.
    import jsonschema
    validator = jsonschema.Draft7Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return
    where = path + ''.join('[%d]' % p if isinstance(p, int) else '.%s' % p
                           for p in error.absolute_path)
    raise ConfigError(where, _explain(error))


def _explain(error):
    value = error.instance
    if error.validator == 'additionalProperties':
        allowed = sorted(error.schema.get('properties', {}))
        extra = sorted(set(value) - set(allowed))
        return 'unknown option %r%s (expected one of: %s)' % (
            extra[0], _did_you_mean(str(extra[0]), allowed),
            ', '.join(allowed))
    if error.validator == 'required':
        return error.message.replace(' is a required property',
                                     ' is required but missing')
    if error.validator == 'enum':
        return 'expected one of %s, got %r' % (
            ', '.join(repr(v) for v in error.validator_value), value)
    if error.validator == 'type':
        wanted = error.validator_value
        wanted = wanted if isinstance(wanted, list) else [wanted]
        return 'expected %s, got %s' % (
            ' or '.join(SCHEMA_TYPES.get(w, w) for w in wanted),
            yamldoc.type_name(value))
    if error.validator in ('minLength', 'minItems'):
        return 'must not be empty'
    # The wording of what a value should be is the schema's x-expected;
    # its description is documentation and may say much more.
    expected = error.schema.get('x-expected')
    if error.validator in ('pattern', 'not') and isinstance(value, str) \
            and expected:
        return '%r is not allowed here: expected %s' % (value, expected)
    if error.validator in ('pattern', 'not') and isinstance(value, str):
        return ('%r is not allowed here: use letters, digits and _ . + - '
                '(at most 64, not starting with . + - and no "..")' % value)
    if expected:
        return '%s (got %r)' % (expected, value)
    return error.message


SCHEMA_TYPES = {'object': 'a mapping', 'array': 'a list',
                'string': 'a string', 'integer': 'a whole number',
                'number': 'a number', 'boolean': 'true or false'}


def _did_you_mean(word, choices):
    close = difflib.get_close_matches(word, choices, n=1)
    return ', did you mean %r?' % close[0] if close else ''


def _describe_item(item):
    if isinstance(item, dict):
        return '%d keys (%s)' % (len(item), ', '.join(map(str, item))) \
            if item else 'an empty mapping'
    return yamldoc.type_name(item)


def summary(nodes, params):
    """The values ``getval`` answers without a build: from the config.

    As diskimage-builder answers them: mount-points in config order, swap's
    ``none`` included; the devices of every node that provides a block
    device (disks, partitions, LVs, arrays, mappings), in creation order.
    And which nodes have a verity root hash (the one below ``/`` first
    asked for).
    """
    mounts = sorted((n for n in nodes if plugin_mod.MOUNT in n.provides),
                    key=lambda n: getattr(n, 'config_index', 0))
    by_name = {n.name: n for n in nodes}

    def fs_of(mount_point):
        for node in mounts:
            if node.facts['mount_point'] == mount_point:
                return by_name[node.deps[0]].facts
        return {}

    level0 = [n for n in nodes if n.level == 0]
    root = next((n for n in mounts if n.facts['mount_point'] == '/'), None)
    return {
        'root-label': fs_of('/').get('label', ''),
        'root-fstype': fs_of('/').get('fstype', ''),
        'boot-label': fs_of('/boot').get('label', ''),
        'mount-points': [n.facts['mount_point'] for n in mounts],
        'image-path': next((n.facts['image_path'] for n in level0
                            if n.facts.get('image_path')), ''),
        'level0': [n.name for n in level0],
        'block-devices': [n.name for n in nodes
                          if plugin_mod.BLOCK_DEVICE in n.provides],
        'verity': [n.name for n in nodes if plugin_mod.VERITY in n.provides],
        'verity-root': next((n.name for n in plugin_mod.stack_below(
            by_name, root.name) if plugin_mod.VERITY in n.provides), '')
        if root else '',
    }
