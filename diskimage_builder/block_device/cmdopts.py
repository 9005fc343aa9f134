"""Extra arguments a config hands to a tool (mkfs ``opts``, LVM
``options``), checked at init.

Such arguments are options only: the device (the VG, the PVs) is what the
build itself gives the tool.  A word the tool would read as an operand
(another device, a size, a second VG name) is refused, so an option
string can never point a tool at a disk outside the image.

To tell an option's value from an operand, each tool has a table of the
options that take a value in the next word (getopt's ``x:``).  The
mistake to avoid is listing a flag there: the word after it would pass
as its value.  So a table lists an option only where every version of the
tool that knows it reads a value after it.  An option missing from a
table only makes its value look like an operand, which is refused with a
hint to write ``--option=value`` (or ``-xvalue``).
"""
import dataclasses
import shlex

from diskimage_builder.block_device.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Syntax:
    """How *tool* reads its arguments (GNU getopt_long, with permutation:
    operands may come anywhere, ``--`` ends the options)."""
    tool: str
    short_values: str = ''          # letters of options that take a value
    long_values: frozenset = frozenset()   # long names that take a value


def split(value, where):
    """The words of an option value: a string is split as a shell would
    (quotes, backslashes), a list is taken word for word."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as err:
            raise ConfigError(where, 'cannot split %r into arguments: %s'
                              % (value, err))
    return list(value)


def parse(words, syntax):
    """(options, operands): each option as (index, name, value or None),
    each operand as (index, word).  A name is ``-x`` or ``--long``."""
    options, operands = [], []
    index = 0
    while index < len(words):
        word = words[index]
        if word == '--':
            operands.extend((i, w) for i, w in enumerate(words[index + 1:],
                                                         index + 1))
            break
        if word.startswith('--'):
            name, eq, value = word[2:].partition('=')
            if not eq:
                value = None
                if name in syntax.long_values and index + 1 < len(words):
                    index += 1
                    value = words[index]
            options.append((index, '--' + name, value))
        elif word.startswith('-') and word != '-':
            for pos, letter in enumerate(word[1:], 1):
                if letter not in syntax.short_values:
                    options.append((index, '-' + letter, None))
                    continue
                value = word[pos + 1:]
                if not value and index + 1 < len(words):
                    index += 1
                    value = words[index]
                options.append((index, '-' + letter, value))
                break
        else:
            operands.append((index, word))
        index += 1
    return options, operands


def where_of(where, listed, index):
    """The YAML path of word *index* of an option: the list item when the
    words were a YAML list, else the option itself."""
    return '%s[%d]' % (where, index) if listed else where


def check_no_operands(words, syntax, where, listed, what):
    """Refuse any word *syntax*'s tool would read as an operand; return
    the options.  *what* says what the tool gets from the build instead."""
    options, operands = parse(words, syntax)
    for index, word in operands:
        raise ConfigError(where_of(where, listed, index), '%r would reach '
                          '%s as an operand, not an option: %s (if it is an '
                          'option\'s value, write it as --option=VALUE or '
                          '-xVALUE)' % (word, syntax.tool, what))
    return options
