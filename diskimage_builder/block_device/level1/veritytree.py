"""The dm-verity hash tree of a ``verity`` node (:mod:`.verity`): how
large it is, the command that computes it, and the release of the node's
``verity-hash`` journal entry, which computes it over the final data,
signs its root hash when asked and writes the veritytab line into the
image's root filesystem; pure functions tested by value.
"""
import logging
import os
import re

from diskimage_builder.block_device import plugin
from diskimage_builder.block_device import resources
from diskimage_builder.block_device import trust

LOG = logging.getLogger(__name__)
DIGEST_BYTES = {'sha256': 32, 'sha512': 64, 'sha1': 20}
# dm-verity takes blocks from 512 bytes to the page size.
BLOCK_SIZES = (512, 1024, 2048, 4096)
SALT_PATTERN = '^(-|([0-9a-fA-F]{2}){1,256})$'
UUID_PATTERN = ('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                '[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
ROOT_HASH = re.compile(r'^Root hash:\s*([0-9a-f]+)\s*$', re.M)
VERITYTAB = 'etc/veritytab'


def hash_tree_bytes(data_bytes, algorithm, data_block, hash_block):
    """What ``veritysetup format`` (format 1, with its superblock) needs on
    the hash device for *data_bytes* of data: pure, checked against
    veritysetup.  Each hash block holds as many digests as fit, each in
    the next power of two of its size; levels shrink to one block."""
    slot = 1 << (DIGEST_BYTES[algorithm] - 1).bit_length()
    per_block = hash_block // slot
    level, blocks = data_bytes // data_block, 0
    while level > 1:
        level = -(-level // per_block)
        blocks += level
    return (blocks + 1) * hash_block


def format_argv(args, data, hash_device):
    return ['veritysetup', 'format', '--hash', args['algorithm'],
            '--data-block-size', str(args['data_block']),
            '--hash-block-size', str(args['hash_block']),
            '--salt', args['salt'], '--uuid', args['uuid'], data,
            hash_device]


def sign_argv(signature):
    """Sign stdin: detached, binary, no signed attributes (no signing
    time: the same key signs the same hash the same way), PEM out."""
    return ['openssl', 'cms', '-sign', '-binary', '-noattr', '-signer',
            signature['certificate'], '-inkey', signature['key-file'],
            '-outform', 'PEM']


def pem_body(text):
    """The base64 of a PEM block: its DER, as veritytab's
    ``root-hash-signature=base64:`` takes it."""
    lines = text.strip().splitlines()
    if len(lines) < 3 or not lines[0].startswith('-----BEGIN '):
        raise resources.ReleaseError('openssl gave no PEM signature')
    return ''.join(line.strip() for line in lines[1:-1])


def veritytab_line(head, roothash, options):
    return ' '.join([head, roothash] + ([','.join(options)] if options
                                        else []))


def merged(text, name, line):
    """The veritytab *text* with *line* for volume *name* in place of any
    line of that name."""
    kept = [old for old in text.splitlines()
            if old.split()[:1] != [name]]
    return ''.join(old + '\n' for old in kept + [line])


# -- the release: compute the hash tree --------------------------------------

def _tools(args):
    return ('veritysetup',) + (('openssl',) if args.get('signature')
                               else ())


def _our_device(scope, args, which):
    path = args[which]
    real = os.path.realpath(path)
    if not real.startswith(os.path.realpath(scope.host.dev_root) + '/') or \
            not args.get(which + '_id'):
        raise resources.NotOurs('%s is not a device this build recorded'
                                % path)
    if scope.host.devnum(path) is None:
        found = 'gone'
    elif scope.host.device_identity(path) != args[which + '_id']:
        found = 'another device now'
    else:
        return path
    raise resources.NotOurs('the %s device %s is %s: the hash tree of %s '
                            'is not computed' % (which, path, found,
                                                 args['name']))


def _checked(args):
    """The entry's arguments, as create wrote them: a state edited into
    another shape must not steer root's commands."""
    good = (args.get('algorithm') in DIGEST_BYTES and
            args.get('data_block') in BLOCK_SIZES and
            args.get('hash_block') in BLOCK_SIZES and
            re.match(SALT_PATTERN, str(args.get('salt'))) and
            re.match(UUID_PATTERN, str(args.get('uuid'))) and
            re.match(plugin.NAME_PATTERN, str(args.get('name'))) and
            '\n' not in args.get('veritytab', '') + args.get('options', ''))
    for path in (args.get('signature') or {}).values():
        good = good and os.path.isabs(path)
    if not good:
        raise resources.NotOurs('the verity entry of %s is not what create '
                                'wrote' % args.get('name'))


@resources.releaser('verity-hash', tools=_tools)
def seal(scope, args):
    """Compute the hash tree over the final data; return what the node's
    results keep (root hash, signature, veritytab line)."""
    if scope.discard:
        return None
    _checked(args)
    data = _our_device(scope, args, 'data')
    hash_device = _our_device(scope, args, 'hash')
    out = scope.runner.run(format_argv(args, data, hash_device)).stdout
    found = ROOT_HASH.search(out)
    if not found:
        raise resources.ReleaseError('veritysetup format %s printed no root '
                                     'hash' % data)
    values = {'roothash': found.group(1)}
    options = [args['options']] if args.get('options') else []
    if args.get('signature'):
        values['roothash_signature'] = pem_body(scope.runner.run(
            sign_argv(args['signature']), stdin=values['roothash']).stdout)
        options.append('root-hash-signature=base64:' +
                       values['roothash_signature'])
    if args.get('veritytab'):
        values['veritytab'] = veritytab_line(args['veritytab'],
                                             values['roothash'], options)
        _install(scope, args, values['veritytab'])
    return values


def _install(scope, args, line):
    """Write *line* into the image's /etc/veritytab, through the root
    filesystem still mounted (and the one this build mounted)."""
    etc = args.get('etc')
    if not etc:
        return
    if resources.our_mount(scope, etc) is None:
        LOG.warning('%s: / is no longer mounted: the veritytab line is in '
                    'the state only (dib-block-device writefstab)',
                    args['name'])
        return
    old = trust.read_file_below(etc['target'], VERITYTAB) or b''
    trust.write_file_below(etc['target'], VERITYTAB, merged(
        old.decode(errors='replace'), args['name'], line).encode())
