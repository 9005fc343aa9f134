"""Size grammar and alignment arithmetic: pure functions, no I/O.

A size is an int (bytes) or a string: a number, optionally with decimals,
followed by a unit.  Binary units: KiB MiB GiB TiB PiB.  Decimal units:
KB MB GB TB PB and the bare letters K M G T P (as diskimage-builder reads
them).  ``B`` or no unit means bytes.  A percentage (``"50%"``) is parsed by
:func:`parse_percent`; where it is allowed is up to the caller.
"""
import decimal
import re

from diskimage_builder.block_device.errors import ConfigError

UNITS = {
    '': 1, 'B': 1,
    'KiB': 1024, 'MiB': 1024 ** 2, 'GiB': 1024 ** 3, 'TiB': 1024 ** 4,
    'PiB': 1024 ** 5,
    'KB': 1000, 'MB': 1000 ** 2, 'GB': 1000 ** 3, 'TB': 1000 ** 4,
    'PB': 1000 ** 5,
    'K': 1000, 'M': 1000 ** 2, 'G': 1000 ** 3, 'T': 1000 ** 4, 'P': 1000 ** 5,
}

_SIZE_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$')
_PERCENT_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*%\s*$')

# Far beyond any disk, small enough that sector arithmetic stays sane.
MAX_BYTES = 2 ** 63 - 1


class SizeError(ValueError):
    """A size string that does not follow the grammar."""


def parse_size(value):
    """Return the number of bytes *value* stands for (rounded down)."""
    if isinstance(value, bool):
        raise SizeError('expected a size such as 512MiB, got %r' % value)
    if isinstance(value, int):
        if value < 0:
            raise SizeError('size must not be negative, got %d' % value)
        return _checked(value)
    if not isinstance(value, str):
        raise SizeError('expected a size such as 512MiB, got %r' % (value,))
    match = _SIZE_RE.match(value)
    if not match:
        raise SizeError('%r is not a size: expected a number and a unit '
                        'such as 512MiB, 2GiB, 10G or 4096' % value)
    number, unit = match.groups()
    if unit not in UNITS:
        raise SizeError('%r has an unknown unit %r: use one of %s'
                        % (value, unit, ', '.join(u for u in UNITS if u)))
    return _checked(int(decimal.Decimal(number) * UNITS[unit]))


def parse_size_at(value, path):
    """parse_size, with an error that names the YAML *path*."""
    try:
        return parse_size(value)
    except SizeError as err:
        raise ConfigError(path, str(err))


def _checked(nbytes):
    if nbytes > MAX_BYTES:
        raise SizeError('size %d bytes is too large' % nbytes)
    return nbytes


def is_percent(value):
    return isinstance(value, str) and bool(_PERCENT_RE.match(value))


def parse_percent(value):
    """Return the percentage in ``"N%"`` as a Decimal in (0, 100]."""
    match = _PERCENT_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise SizeError('%r is not a percentage such as 50%%' % (value,))
    share = decimal.Decimal(match.group(1))
    if not 0 < share <= 100:
        raise SizeError('%r: a percentage must be above 0 and at most 100'
                        % value)
    return share


def percent_of(total, share):
    """*share* percent of *total*, rounded down to a whole number."""
    return int(decimal.Decimal(total) * share / 100)


def align_up(value, alignment):
    return -(-value // alignment) * alignment


def align_down(value, alignment):
    return value // alignment * alignment


def human(nbytes):
    """A short binary-unit rendering for messages: 1.5 GiB, 512 MiB."""
    for unit in ('TiB', 'GiB', 'MiB', 'KiB'):
        if nbytes >= UNITS[unit]:
            text = '%.2f' % (nbytes / UNITS[unit])
            return '%s %s' % (text.rstrip('0').rstrip('.'), unit)
    return '%d B' % nbytes
