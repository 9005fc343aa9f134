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

import yaml

from diskimage_builder.block_device import graph
from diskimage_builder.block_device import params_file
from diskimage_builder.block_device import plugin as plugin_mod
from diskimage_builder.block_device import sizes
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


# Bounds on what a YAML document may expand to.  A config is a few
# levels deep and a few hundred values large; PyYAML composes nesting by
# recursion (Python's stack ends near 1000 levels) and shares aliased
# nodes, so a few lines of anchors can stand for billions of values once
# the schemas, the plan or json walk them.
MAX_DEPTH = 64
MAX_VALUES = 100000


def load_yaml(text, what, root=None):
    """The data of the YAML document *text*, checked to be plain data
    (what JSON holds); errors start with *what*, or with the YAML path
    below *root* (``params``; the config's items are ``[0]``...)."""
    try:
        _check_events(text, what)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, 'problem_mark', None)
        where = (' at line %d column %d' % (mark.line + 1, mark.column + 1)
                 if mark else '')
        problem = getattr(err, 'problem', None) or str(err).splitlines()[0]
        raise ConfigError(what, 'not valid YAML%s: %s' % (where, problem))
    check_plain(data, what if root is None else root)
    return data


def _check_events(text, what):
    """Refuse, before composing, a document nested deeper than MAX_DEPTH,
    one that expands to more than MAX_VALUES values through its aliases,
    and an alias to a collection that holds it (it would never end)."""
    anchored = {}       # anchor: (values it stands for, its depth)
    open_ = []          # [anchor, values so far, depth] of open collections
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1
        if isinstance(event, (yaml.SequenceStartEvent,
                              yaml.MappingStartEvent)):
            open_.append([event.anchor, 1, 1])
            if len(open_) > MAX_DEPTH:
                raise ConfigError(what, 'nested more than %d levels deep '
                                  'at line %d' % (MAX_DEPTH, line))
            continue
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, count, depth = open_.pop()
            size = (count, depth)
            if anchor is not None:
                anchored[anchor] = size
        elif isinstance(event, yaml.ScalarEvent):
            size = (1, 0)
            if event.anchor is not None:
                anchored[event.anchor] = size
        elif isinstance(event, yaml.AliasEvent):
            if any(entry[0] == event.anchor for entry in open_):
                raise ConfigError(what, 'the alias *%s at line %d refers to '
                                  'a collection that holds it: it would '
                                  'never end' % (event.anchor, line))
            # An undefined alias is left for the composer to report.
            size = anchored.get(event.anchor, (1, 0))
        else:
            continue
        total += size[0]
        if total > MAX_VALUES:
            raise ConfigError(what, 'expands to more than %d values by line '
                              '%d (aliases of aliases?)' % (MAX_VALUES, line))
        if open_:
            open_[-1][1] += size[0]
            open_[-1][2] = max(open_[-1][2], size[1] + 1)
            if len(open_) + size[1] > MAX_DEPTH:
                raise ConfigError(what, 'nested more than %d levels deep '
                                  '(through the alias at line %d)'
                                  % (MAX_DEPTH, line))


PLAIN_SCALARS = (str, int, float, bool, type(None))
# What else safe_load makes, and of what YAML.
YAML_TYPES = {'date': 'a date', 'datetime': 'a date and time',
              'bytes': 'binary data (!!binary)', 'set': 'a set (!!set)',
              'tuple': 'a pair (!!omap or !!pairs)'}


def check_plain(data, root):
    """Refuse what JSON cannot hold or no tool can take: keys that are not
    strings, values YAML reads as dates or bytes (``2024-01-01``,
    ``!!binary``), NUL characters and lone surrogates.  *root* names the
    document in the YAML path of an error."""
    todo = [(data, root)]
    seen = 0
    while todo:
        value, path = todo.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ConfigError(root or 'config', 'holds more than %d values'
                              % MAX_VALUES)
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ConfigError(path or 'config', 'the key %r is %s; '
                                      'keys must be strings (quote it)'
                                      % (key, _type_name(key)))
                todo.append((item, '%s.%s' % (path, key) if path else key))
        elif isinstance(value, list):
            todo.extend((item, '%s[%d]' % (path, index))
                        for index, item in enumerate(value))
        elif not isinstance(value, PLAIN_SCALARS):
            raise ConfigError(path or 'config', 'YAML reads this value as '
                              '%s (%s); quote it to make it a string'
                              % (YAML_TYPES.get(type(value).__name__,
                                                type(value).__name__),
                                 _short(value)))
        elif isinstance(value, str):
            _check_text(value, path or 'config')
    return data


def _short(value):
    text = str(value)
    return text if len(text) <= 40 else text[:37] + '...'


def _check_text(value, path):
    if '\x00' in value:
        raise ConfigError(path, '%r holds a NUL character' % value)
    try:
        value.encode('utf-8')
    except UnicodeEncodeError:
        raise ConfigError(path, '%r holds a lone UTF-16 surrogate, not a '
                          'character' % value)


def load_params(path):
    params = load_yaml(params_file.read(path), 'params', 'params')
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
    return load_yaml(text, 'config', '')


def build(items, params):
    """Check a whole config; return its nodes in creation order."""
    return build_with_plugins(items, params)[0]


def build_with_plugins(items, params):
    """(nodes in creation order, {plugin name: plugin class}).  Each node
    keeps its place in the config as ``config_index`` (getval answers
    mount-points in config order, as diskimage-builder does)."""
    check_plain(items, '')
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
        if name not in classes:
            cls = plugin_mod.load(name) if name in known else None
            if cls is None:
                raise ConfigError(path, 'unknown plugin %r%s (known: %s)'
                                  % (name, _did_you_mean(name, known),
                                     ', '.join(known)))
            classes[name] = cls
        cls = classes[name]
        if not isinstance(options, dict):
            raise ConfigError(path, 'expected a mapping of options, got %s'
                              % _type_name(options))
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
            _type_name(value))
    if error.validator in ('minLength', 'minItems'):
        return 'must not be empty'
    if error.validator in ('pattern', 'not') and isinstance(value, str) \
            and error.schema.get('description'):
        return '%r is not allowed here: expected %s' % (
            value, error.schema['description'])
    if error.validator in ('pattern', 'not') and isinstance(value, str):
        return ('%r is not allowed here: use letters, digits and _ . + - '
                '(at most 64, not starting with . + - and no "..")' % value)
    desc = error.schema.get('description')
    if desc:
        return '%s (got %r)' % (desc, value)
    return error.message


SCHEMA_TYPES = {'object': 'a mapping', 'array': 'a list',
                'string': 'a string', 'integer': 'a whole number',
                'number': 'a number', 'boolean': 'true or false'}


def _did_you_mean(word, choices):
    close = difflib.get_close_matches(word, choices, n=1)
    return ', did you mean %r?' % close[0] if close else ''


def _type_name(value):
    return {dict: 'a mapping', list: 'a list', str: 'a string',
            bool: 'a boolean', int: 'a number', float: 'a number',
            type(None): 'nothing'}.get(type(value), type(value).__name__)


def _describe_item(item):
    if isinstance(item, dict):
        return '%d keys (%s)' % (len(item), ', '.join(map(str, item))) \
            if item else 'an empty mapping'
    return _type_name(item)


def summary(nodes, params):
    """The values ``getval`` answers without a build: from the config.

    As diskimage-builder answers them: mount-points in config order, swap's
    ``none`` included; the devices of every node that provides a block
    device (disks, partitions, LVs, arrays, mappings), in creation order.
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
    }
