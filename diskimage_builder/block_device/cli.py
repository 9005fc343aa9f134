"""The ``dib-block-device`` command line.

Exit status: 0 success; 1 a command or a teardown step failed; 2 the
config, params, command line or host is not fit (nothing was touched);
3 the state folder is missing, damaged or busy.
"""
import os
import sys

from diskimage_builder.block_device import params_file
from diskimage_builder.block_device.errors import BlockDeviceError

# argparse and logging are imported only past the getval fast path: the
# image builder calls getval many times, and they cost more than it does.
LOGGER_NAME = 'diskimage_builder.block_device'

# Every subcommand and its options: one table, from which the parser is
# built (and which a unit test holds the README to).  An option is
# (flags, argparse keywords).
COMMANDS = (
    ('init', 'check the config and write config.json', ()),
    ('getval', 'print one value', ((('key',), {}),)),
    ('plan', 'show the layout and sizes the config gives, touching nothing',
     ((('--format',), {'choices': ('tree', 'json', 'dot'),
                       'default': 'tree'}),
      (('--config',), {'help': "a config file, instead of the params "
                               "file's"}),
      (('--size',), {'help': 'the image size, with --config'}))),
    ('create', 'create the whole stack',
     ((('--check',), {'action': 'store_true',
                      'help': 'only run the checks create runs before its '
                              'first change, print them and write '
                              'nothing'}),)),
    ('writefstab', 'write built/etc/fstab', ()),
    ('umount', 'unmount and detach; the image stays', ()),
    ('cleanup', 'release everything still held and remove the state '
     'folder; the image stays',
     ((('--from-system',), {'action': 'store_true',
                            'help': 'find what the build holds on the '
                                    'system (when the state file is lost '
                                    'or damaged)'}),)),
    ('delete', 'release everything and delete the image files', ()),
    ('build', 'make a disk image from a directory tree in one command',
     ((('--root',), {'required': True, 'help': 'the tree to copy in'}),
      (('--output',), {'required': True, 'help': 'the image file'}),
      (('--config',), {'help': 'a layout (default: one GPT partition, '
                               'ext4 at /)'}),
      (('--size',), {'help': 'the image size, or auto: the smallest '
                             'that holds the tree (default: the tree plus '
                             'headroom)'}),
      (('--mode',), {'choices': ('auto', 'kernel', 'offline'),
                     'default': 'auto',
                     'help': 'kernel: loop devices and mounts (root); '
                             'offline: in the image file, no root; auto '
                             '(default): kernel when this process can, '
                             'else offline'}),
      (('--offline',), {'action': 'store_true',
                        'help': 'the same as --mode offline'}),
      (('--format',), {'choices': ('raw', 'qcow2', 'vmdk', 'vhdx', 'vdi'),
                       'help': 'default: from the output name, else raw'}),
      (('--compress',), {'action': 'store_true',
                         'help': 'compressed qcow2'}),
      (('--seed',), {'help': 'derive every identifier from this (as '
                             'DIB_BLOCK_DEVICE_SEED does)'}))),
)
PHASES = tuple(name for name, _, _ in COMMANDS)


def parser():
    import argparse
    top = argparse.ArgumentParser(
        prog='dib-block-device',
        description='Build and tear down the block devices of a disk image.')
    top.add_argument('--params', default=os.environ.get(
        'DIB_BLOCK_DEVICE_PARAMS_YAML'),
        help='params YAML file (default: $DIB_BLOCK_DEVICE_PARAMS_YAML)')
    top.add_argument('--debug', action='store_true',
                     help='also log the output of every command')
    sub = top.add_subparsers(dest='phase', required=True, metavar='PHASE')
    for name, help_text, options in COMMANDS:
        command = sub.add_parser(name, help=help_text)
        for flags, keywords in options:
            command.add_argument(*flags, **keywords)
    return top


def setup_logging(debug):
    import logging
    log = logging.getLogger(LOGGER_NAME)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        '%(asctime)s.%(msecs)03d %(levelname)s %(message)s', '%H:%M:%S'))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if debug else logging.INFO)


def run(args):
    if args.phase == 'getval':
        print_value(args.params, args.key)
        return
    from diskimage_builder.block_device import blockdevice
    from diskimage_builder.block_device.runner import Runner
    if args.phase == 'init':
        from diskimage_builder.block_device import config
        blockdevice.init(config.load_params(args.params))
        return
    if args.phase == 'build':
        from diskimage_builder.block_device import build
        build.build(args, Runner())
        return
    if args.phase == 'plan':
        print(blockdevice.plan_view(plan_params(args), args.format))
        return
    # After init, the params checked then and kept in config.json are
    # what counts; only the build dir is read from the params file.
    if getattr(args, 'from_system', False):
        from diskimage_builder.block_device import config
        blockdevice.cleanup_from_system(config.load_params(args.params),
                                        Runner())
        return
    params = {'build-dir': params_file.build_dir_only(args.params)}
    if args.phase == 'create' and args.check:
        for line in blockdevice.check(params, Runner()):
            print('checked: ' + line)
    elif args.phase == 'create':
        blockdevice.create(params, Runner())
    elif args.phase == 'writefstab':
        blockdevice.write_fstab(params)
    else:
        from diskimage_builder.block_device.teardown import teardown
        teardown(params, Runner(), args.phase)


def plan_params(args):
    """plan takes the usual params, or just --config and --size."""
    from diskimage_builder.block_device import config
    from diskimage_builder.block_device.errors import UsageError
    if not args.config:
        return config.load_params(args.params)
    if not args.size:
        raise UsageError('plan --config needs --size too')
    here = os.path.abspath('.')
    params = {'config': os.path.abspath(args.config), 'build-dir': here,
              'image-dir': here, 'mount-base': '/mnt',
              'image-size': args.size, 'root-fs-type': 'ext4'}
    config.check_schema(params, config.PARAMS_SCHEMA, 'params')
    return params


def print_value(params_path, key):
    from diskimage_builder.block_device.getval import getval
    print(getval(params_file.build_dir_only(params_path), key))


def plain_getval(argv):
    """(params file, key) when *argv* is nothing but a getval call, which
    then needs neither argparse nor logging; else None."""
    params = os.environ.get('DIB_BLOCK_DEVICE_PARAMS_YAML')
    if len(argv) == 4 and argv[0] == '--params':
        params, argv = argv[1], argv[2:]
    if len(argv) == 2 and argv[0] == 'getval' and argv[1][:1] not in (
            '-', ''):
        return params, argv[1]
    return None


def main(argv=None):
    # Everything this tool makes is checked later as writable by nobody
    # else (trust): under umask 000 create would make an image folder the
    # next phase refuses.  A stricter umask is kept.
    os.umask(os.umask(0o022) | 0o022)
    argv = list(sys.argv[1:] if argv is None else argv)
    getval_call = plain_getval(argv)
    if getval_call is not None:
        return _reported('getval', print_value, *getval_call)
    args = parser().parse_args(argv)
    setup_logging(args.debug)
    return _reported(args.phase, run, args)


def _reported(phase, function, *args):
    try:
        function(*args)
    except BlockDeviceError as err:
        print('dib-block-device %s: error: %s' % (phase, err),
              file=sys.stderr)
        return err.exit_status
    return 0
