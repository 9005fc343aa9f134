"""Whether the commands ``create`` ran are the ones ``plan`` listed: the
oracle the host and VM tiers hold every build to."""
import re
import shlex

from diskimage_builder.block_device.context import PLACEHOLDER_PATTERN
from diskimage_builder.block_device.planview import show_argv


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
        names = re.findall(PLACEHOLDER_PATTERN, want)
        groups = {}
        regex = ''
        for index, piece in enumerate(re.split(PLACEHOLDER_PATTERN,
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
