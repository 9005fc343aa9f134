"""``getval``: answer from the state folder alone, importing no plugin,
so the image builder's many calls stay cheap."""
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device.errors import UsageError

KEYS = ('boot-label', 'image-block-device', 'image-block-devices',
        'image-path', 'mount-points', 'root-fstype', 'root-label',
        'verity-roothash[:NAME]', 'verity-roothash-signature[:NAME]')
# What each verity key answers from a verity node's results.
VERITY_KEYS = {'verity-roothash': 'roothash',
               'verity-roothash-signature': 'roothash_signature'}


def getval(build_dir, key):
    folder = state_mod.state_dir(build_dir)
    with state_mod.locked(folder, shared=True):
        return _answer(folder, key)


def _answer(folder, key):
    values = state_mod.load_config(folder)['values']
    if key in ('root-label', 'root-fstype', 'boot-label', 'image-path'):
        return values[key]
    if key == 'mount-points':
        return '|'.join(values['mount-points'])
    if key in ('image-block-device', 'image-block-devices'):
        state = state_mod.State.load(folder)

        def device(name):
            return state.results(name).get('device', '') if state else ''
        if key == 'image-block-device':
            return device(values['level0'][0]) if values['level0'] else ''
        # " [name]=device " words, spaced as diskimage-builder prints them,
        # that bash evaluates into an associative array; a name or device
        # that needs quoting is quoted (diskimage-builder's is not).
        return ''.join(' [%s]=%s ' % (_word(name), _word(device(name)))
                       for name in values.get('block-devices',
                                              values['level0']))
    if key.partition(':')[0] in VERITY_KEYS:
        return _verity(folder, values, key)
    raise UsageError('getval: unknown key %r (known: %s)'
                     % (key, ', '.join(KEYS)))


def _verity(folder, values, key):
    """A verity node's root hash (or its signature, base64): of node
    NAME in ``KEY:NAME``, else of the one below ``/``, else of the first;
    empty until umount computed it."""
    field, _, name = key.partition(':')
    names = values.get('verity', [])
    if name and name not in names:
        raise UsageError('getval %s: %s is not a verity node (verity nodes: '
                         '%s)' % (key, name, ', '.join(names) or 'none'))
    name = name or values.get('verity-root') or (names[0] if names else '')
    state = state_mod.State.load(folder) if name else None
    return state.results(name).get(VERITY_KEYS[field], '') if state else ''


def _word(text):
    import shlex
    return shlex.quote(text) if text else "''"
