"""Option tables in reStructuredText, made from the plugins' schemas.

A plugin's JSON schema is the one place its options are described: the
schema's ``description`` says what an entry makes, each property's what
the option means, its default and its values.  This module renders them:
the plugin's description, a table of its options, and one more table for
each option that holds mappings (``partitions``, ``pvs``, ``vgs``,
``lvs``, ``pbkdf``).

In a document, every block between a line ``.. options: PLUGIN`` and the
next ``.. end of options`` (both reStructuredText comments) is generated::

    python -m diskimage_builder.block_device.schemadoc README.rst

rewrites those blocks in place; ``--check`` changes nothing and exits 1
when a block differs from what the schemas give.
"""
import argparse
import os
import re
import shutil
import sys
import textwrap

from diskimage_builder.block_device import plugin

COMMAND = 'python -m diskimage_builder.block_device.schemadoc README.rst'
BEGIN = re.compile(r'^\.\. options: (?P<name>\S+)\s*$')
END = '.. end of options'
# The README's line length: tables and paragraphs wrap within it.
WIDTH = 78
LITERAL = re.compile(r'``.+?``')
# Stands for a space inside a literal while textwrap looks for breaks.
NBSP = '\u00a0'


class SchemaDocError(ValueError):
    """A document or a schema the tables cannot be made from."""


def undescribed(schema, path=''):
    """The options (``partitions[].size``) of *schema*, nested ones too,
    that have no description."""
    missing = []
    for key, option in schema.get('properties', {}).items():
        where = path + key
        if not option.get('description'):
            missing.append(where)
        inner, suffix = _mappings_in(option)
        if inner is not None:
            missing += undescribed(inner, where + suffix + '.')
    return missing


def _mappings_in(option):
    """(schema of the mappings an option holds, path suffix): for a list
    of mappings, its items; for a mapping, itself; else (None, '')."""
    items = option.get('items')
    if isinstance(items, dict) and 'properties' in items:
        return items, '[]'
    if 'properties' in option:
        return option, ''
    return None, ''


def render(name, cls):
    """The generated block of plugin *name* (class *cls*), as lines."""
    schema = cls.SCHEMA
    missing = undescribed(schema)
    if missing or not schema.get('description'):
        raise SchemaDocError('plugin %s: no description for %s' % (
            name, ', '.join(missing or ['the plugin itself'])))
    lines = _wrap(schema['description'], WIDTH)
    lines += [''] + table(schema)
    for key, option in schema['properties'].items():
        inner, suffix = _mappings_in(option)
        if inner is not None:
            lead = 'Each item of' if suffix else 'The keys of'
            lines += ['', '%s ``%s``:' % (lead, key), ''] + table(inner)
    return lines


def table(schema):
    """A simple table of the options of *schema*: name, description.
    Descriptions wrap inside their column (a row whose first column is
    empty continues the row above it)."""
    rows = [('``%s``' % key, option['description'])
            for key, option in schema['properties'].items()]
    key_width = max(len(key) for key, _ in rows)
    text_width = WIDTH - key_width - 1
    border = '%s %s' % ('=' * key_width, '=' * text_width)
    lines = [border]
    for key, text in rows:
        wrapped = _wrap(text, text_width)
        lines.append('%s %s' % (key.ljust(key_width), wrapped[0]))
        lines += [' ' * (key_width + 1) + more for more in wrapped[1:]]
    return lines + [border]


def _wrap(text, width):
    """*text* in lines of at most *width* where it can be: an inline
    literal (``_ . -``) is never split, a line may run over for it (the
    last column of a simple table is unbounded)."""
    kept = LITERAL.sub(lambda m: m.group().replace(' ', NBSP), text)
    return [line.replace(NBSP, ' ') for line in textwrap.wrap(
        kept, width, break_long_words=False, break_on_hyphens=False)]


def regenerate(text, load=plugin.load):
    """*text* with every marked block made anew from the schemas; *load*
    gives the plugin class of a name (the entry points by default)."""
    lines = text.split('\n')
    out, index = [], 0
    while index < len(lines):
        line = lines[index]
        out.append(line)
        index += 1
        begin = BEGIN.match(line)
        if not begin:
            continue
        where = 'line %d' % index
        end = _end_of_block(lines, index, where)
        name = begin.group('name')
        cls = load(name)
        if cls is None:
            raise SchemaDocError('%s: no plugin %r is registered'
                                 % (where, name))
        out += [''] + render(name, cls) + ['']
        index = end
    return '\n'.join(out)


def _end_of_block(lines, start, where):
    """The index of the end marker of the block opened before *start*."""
    for index in range(start, len(lines)):
        if lines[index] == END:
            return index
        if BEGIN.match(lines[index]):
            break
    raise SchemaDocError('%s: no %r before the next block' % (where, END))


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m diskimage_builder.block_device.schemadoc',
        description='Rewrite the option tables between ".. options: '
                    'PLUGIN" and ".. end of options" from the schemas.')
    parser.add_argument('files', nargs='+', metavar='FILE')
    parser.add_argument('--check', action='store_true',
                        help='change nothing; exit 1 if a table differs')
    args = parser.parse_args(argv)
    stale = []
    for path in args.files:
        try:
            with open(path, encoding='utf-8') as src:
                text = src.read()
            new = regenerate(text)
        except (OSError, SchemaDocError) as err:
            print('%s: %s' % (path, err), file=sys.stderr)
            return 2
        if new == text:
            continue
        stale.append(path)
        if not args.check:
            _write(path, new)
    for path in stale:
        print('%s: %s' % (path, 'tables differ from the schemas'
                          if args.check else 'tables regenerated'))
    return 1 if args.check and stale else 0


def _write(path, text):
    # A rename, so an interrupted run leaves the old file whole.
    temp = path + '.schemadoc-tmp'
    with open(temp, 'w', encoding='utf-8') as out:
        out.write(text)
    shutil.copymode(path, temp)
    os.replace(temp, path)


if __name__ == '__main__':
    sys.exit(main())
