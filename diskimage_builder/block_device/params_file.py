"""Reading the params file.  Kept apart from :mod:`config` (PyYAML,
schemas): ``getval`` needs only the build dir, and the image builder calls
it many times per image."""
from diskimage_builder.block_device.errors import ConfigError


def read(path):
    """The text of the params file *path*; a ConfigError if there is
    none."""
    if not path:
        raise ConfigError('', 'no params file: pass --params FILE or set '
                          'DIB_BLOCK_DEVICE_PARAMS_YAML')
    try:
        with open(path) as src:
            return src.read()
    except OSError as err:
        raise ConfigError(path, 'cannot read the params file: %s'
                          % err.strerror)


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
        from diskimage_builder.block_device.config import load_yaml
        params = load_yaml(text, path)
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
