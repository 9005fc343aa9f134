"""YAML documents read as plain data, within bounds: what the config and
params files may hold.

PyYAML's safe loader already builds no objects; on top of it a document
is refused (one ConfigError naming where) when it nests deeper than
MAX_DEPTH, expands to more than MAX_VALUES values through its aliases,
or holds what JSON cannot (keys that are not strings, dates, binary, NUL
characters, lone surrogates).  PyYAML is imported here only: the phases
that read no YAML never pay for it.
"""
import re

import yaml

from diskimage_builder.block_device.errors import ConfigError

# Bounds on what a YAML document may expand to.  A config is a few
# levels deep and a few hundred values large; PyYAML composes nesting by
# recursion (Python's stack ends near 1000 levels) and shares aliased
# nodes, so a few lines of anchors can stand for billions of values once
# the schemas, the plan or json walk them.
MAX_DEPTH = 64
MAX_VALUES = 100000


def load(text, what, root=None):
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
        size = _event_size(event, open_, anchored, what, line)
        if size is None:
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


def _event_size(event, open_, anchored, what, line):
    """(values, depth) that *event* adds to the collection it is in, or
    None when it adds nothing yet (a collection opening)."""
    if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
        open_.append([event.anchor, 1, 1])
        if len(open_) > MAX_DEPTH:
            raise ConfigError(what, 'nested more than %d levels deep at '
                              'line %d' % (MAX_DEPTH, line))
        return None
    if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
        anchor, count, depth = open_.pop()
        size = (count, depth)
    elif isinstance(event, yaml.ScalarEvent):
        anchor, size = event.anchor, (1, 0)
    elif isinstance(event, yaml.AliasEvent):
        if any(entry[0] == event.anchor for entry in open_):
            raise ConfigError(what, 'the alias *%s at line %d refers to a '
                              'collection that holds it: it would never end'
                              % (event.anchor, line))
        # An undefined alias is left for the composer to report.
        return anchored.get(event.anchor, (1, 0))
    else:
        return None
    if anchor is not None:
        anchored[anchor] = size
    return size


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
                                      % (key, type_name(key)))
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


def type_name(value):
    return {dict: 'a mapping', list: 'a list', str: 'a string',
            bool: 'a boolean', int: 'a number', float: 'a number',
            type(None): 'nothing'}.get(type(value), type(value).__name__)


def at(document, path):
    """The value at YAML *path* (``[1].partitioning.partitions[0]``) of
    *document*, as config paths name it."""
    value = document
    for index, key in re.findall(r'\[(\d+)\]|\.?([^.\[\]]+)', path):
        value = value[int(index)] if index else value[key]
    return value
