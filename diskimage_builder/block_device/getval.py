"""``getval``: answer from the state folder alone, importing no plugin,
so the image builder's many calls stay cheap."""
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device.errors import UsageError

KEYS = ('boot-label', 'image-block-device', 'image-block-devices',
        'image-path', 'mount-points', 'root-fstype', 'root-label')


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
    raise UsageError('getval: unknown key %r (known: %s)'
                     % (key, ', '.join(KEYS)))


def _word(text):
    import shlex
    return shlex.quote(text) if text else "''"
