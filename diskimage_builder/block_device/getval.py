"""``getval``: answer from the state folder alone, importing no plugin,
so the image builder's many calls stay cheap."""
from diskimage_builder.block_device import state as state_mod
from diskimage_builder.block_device.errors import UsageError

KEYS = ('boot-label', 'image-block-device', 'image-block-devices',
        'image-path', 'mount-points', 'root-fstype', 'root-label')


def getval(build_dir, key):
    folder = state_mod.state_dir(build_dir)
    values = state_mod.load_config(folder)['values']
    if key in ('root-label', 'root-fstype', 'boot-label', 'image-path'):
        return values[key]
    if key == 'mount-points':
        return '|'.join(values['mount-points'])
    if key in ('image-block-device', 'image-block-devices'):
        state = state_mod.State.load(folder)
        devices = [(name, state.results(name).get('device', '') if state
                    else '') for name in values['level0']]
        if key == 'image-block-device':
            return devices[0][1] if devices else ''
        # "[name]=device" words that bash can eval into an associative
        # array, whatever characters the names hold.
        return ' '.join('[%s]=%s' % (_word(name), _word(device))
                        for name, device in devices)
    raise UsageError('getval: unknown key %r (known: %s)'
                     % (key, ', '.join(KEYS)))


def _word(text):
    import shlex
    return shlex.quote(text) if text else "''"
