"""Reading the input files (the params file, the config) as text.  Kept
apart from :mod:`config` and :mod:`yamldoc` (PyYAML, schemas): ``getval``
needs only the build dir, and the image builder calls it many times per
image."""
import os
import stat

from diskimage_builder.block_device.errors import ConfigError

# A config or params file is a few KiB; anything near this is not one.
MAX_TEXT_BYTES = 1 << 20
FILE_TYPES = {stat.S_IFIFO: 'a FIFO', stat.S_IFCHR: 'a character device',
              stat.S_IFBLK: 'a block device', stat.S_IFDIR: 'a directory',
              stat.S_IFSOCK: 'a socket'}


def read(path):
    """The text of the params file *path*; a ConfigError if there is
    none."""
    if not path:
        raise ConfigError('', 'no params file: pass --params FILE or set '
                          'DIB_BLOCK_DEVICE_PARAMS_YAML')
    return read_text(path, 'params', 'the params file')


def read_text(path, where, what):
    """The UTF-8 text of the regular file *path*, or a ConfigError at
    *where* (the YAML path that named the file, or its option).

    Opened non-blocking and looked at before reading: a FIFO would block
    the open until a writer comes, a device could be read forever.
    """
    fd = _open_for_reading(path, where, what)
    try:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind != stat.S_IFREG:
            raise ConfigError(where, 'cannot read %s %s: it is %s, not a '
                              'regular file' % (what, path, FILE_TYPES.get(
                                  kind, 'not a regular file')))
        data = _read_at_most(fd, MAX_TEXT_BYTES + 1)
    except OSError as err:
        raise ConfigError(where, 'cannot read %s %s: %s'
                          % (what, path, err.strerror))
    finally:
        os.close(fd)
    if len(data) > MAX_TEXT_BYTES:
        raise ConfigError(where, '%s %s is larger than %d KiB: not a YAML '
                          'layout' % (what, path, MAX_TEXT_BYTES >> 10))
    return decode(data, where, '%s %s' % (what, path))


def _open_for_reading(path, where, what):
    try:
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY |
                       os.O_CLOEXEC)
    except OSError as err:
        try:        # a socket cannot be opened (ENXIO): say what it is
            kind = FILE_TYPES.get(stat.S_IFMT(os.stat(path).st_mode))
        except OSError:
            kind = None
        raise ConfigError(where, 'cannot read %s %s: %s' % (
            what, path, 'it is %s, not a regular file' % kind if kind
            else err.strerror))
    except ValueError:          # a NUL in the path
        raise ConfigError(where, 'cannot read %s %r: the path holds a NUL '
                          'character' % (what, path))


def _read_at_most(fd, limit):
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b''.join(chunks)


def decode(data, where, what):
    """*data* as UTF-8 text, or a ConfigError naming the first bad byte by
    line and column."""
    if data[:4] in (b'\xff\xfe\x00\x00', b'\x00\x00\xfe\xff') or \
            data[:2] in (b'\xff\xfe', b'\xfe\xff'):
        raise ConfigError(where, '%s is UTF-%s text (it starts with a byte '
                          'order mark): save it as UTF-8'
                          % (what, '32' if data[2:4] == b'\x00\x00' or
                             data[:2] == b'\x00\x00' else '16'))
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as err:
        raise ConfigError(where, '%s is not UTF-8 text: byte 0x%02x at %s'
                          % (what, data[err.start], _position(data,
                                                              err.start)))
    if '\x00' in text:
        raise ConfigError(where, '%s holds a NUL byte at %s (UTF-16 text? '
                          'save it as UTF-8)'
                          % (what, _position(data, data.index(b'\x00'))))
    return text


def _position(data, offset):
    line = data.count(b'\n', 0, offset) + 1
    column = offset - (data.rfind(b'\n', 0, offset) + 1) + 1
    return 'line %d column %d' % (line, column)


# What a "key: value" line of plain YAML may hold, so that YAML would read
# it as that string (no quotes, flow collections, anchors, tags, comments,
# block scalars...).  Checked by hand: compiling a regex costs getval more
# than the check.
_KEY_CHARS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
                       '0123456789_-')
_NOT_FIRST = frozenset('#\'"{}[],&*!|>%@`')


def plain_line(line):
    """(key, value) of a plain ``key: value`` line, else None."""
    key, colon, rest = line.partition(':')
    if not colon or not key or not _KEY_CHARS.issuperset(key) or \
            rest[:1] != ' ':
        return None
    value = rest.strip(' ')
    if not value or value[0] in _NOT_FIRST or '\t' in value or \
            '#' in value or ':' in value or not value.isprintable():
        return None
    return key, value


def build_dir_only(path):
    """The build dir from the params file, cheaply: getval is called many
    times per image build and must not pay for PyYAML or schemas when the
    file is plain ``key: value`` lines (anything else goes to PyYAML)."""
    text = read(path)
    params = _plain_params(text)
    if params is None:
        from diskimage_builder.block_device import yamldoc
        params = yamldoc.load(text, 'params', 'params')
    if not isinstance(params, dict) or not params.get('build-dir'):
        raise ConfigError('params.build-dir', 'is required but missing')
    return params['build-dir']


def _plain_params(text):
    params = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        pair = plain_line(line)
        if pair is None or pair[0] in params:
            return None
        params[pair[0]] = pair[1]
    return params
