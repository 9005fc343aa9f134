"""dm-verity through the real command line: the hash tree made at umount
over the final data, accepted by ``veritysetup verify`` and refused once
one data byte is flipped; the veritytab line in the image; the signed
root hash; the same root hash from two reproducible builds; LUKS over
verity and verity over LUKS, opened again from the image alone."""
import base64
import os

from diskimage_builder.block_device.tests.support import held
from diskimage_builder.block_device.tests.support.harness import Build
from diskimage_builder.block_device.tests.support.harness import out
from diskimage_builder.block_device.tests.support.harness import sh
from diskimage_builder.block_device.tests.support.vmstacks import KEY
from diskimage_builder.block_device.tests.support.vmstacks import KEY_ENV
from diskimage_builder.block_device.tests.support.vmstacks import PBKDF
from diskimage_builder.block_device.tests.support.vmstacks import TAG

MARKER = b'verity marker %d\n' % os.getpid()

USR = """
- local_loop: {name: image0, size: 256MiB}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: root
        size: 64MiB
        mkfs: {name: mkfs_root, type: ext4, label: root,
               mount: {mount_point: /, fstab: {}}}
      - name: usr_data
        size: 96MiB
        verity:
          name: %(name)s
          hash: usr_hash
          options: x-initrd.attach
          signature: {key-file: %(key)s, certificate: %(cert)s}
          mkfs: {type: ext4, label: usr, mount: {mount_point: /usr,
                                                 fstab: {}}}
      - name: usr_hash
        size: 8MiB
"""

ROOT = """
- local_loop: {name: image0, size: 128MiB}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: root_data
        size: 96MiB
        verity:
          name: vroot
          hash: root_hash
          mkfs: {name: mkfs_root, type: ext4, label: root,
                 mount: {mount_point: /, fstab: {}}}
      - name: root_hash
        size: 4MiB
"""

# / is ext4 in LUKS on verity; /srv is ext4 on verity on LUKS.
BOTH_WAYS = """
- local_loop: {name: image0, size: 384MiB}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - {name: a, size: 128MiB}
      - {name: a_hash, size: 4MiB}
      - {name: b, size: 128MiB}
      - {name: b_hash, size: 4MiB}
- verity:
    name: %(va)s
    base: a
    hash: a_hash
    crypt:
      name: %(ca)s
      passphrase-env: DIB_VM_LUKS_KEY
      pbkdf: %(pbkdf)s
      mkfs: {name: mkfs_root, type: ext4, label: root,
             mount: {mount_point: /, fstab: {}}}
- crypt:
    name: %(cb)s
    base: b
    passphrase-env: DIB_VM_LUKS_KEY
    pbkdf: %(pbkdf)s
    verity:
      name: %(vb)s
      hash: b_hash
      mkfs: {type: ext4, label: srv, mount: {mount_point: /srv, fstab: {}}}
"""


def write(root, files):
    for relative, data in files.items():
        path = os.path.join(root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as dst:
            dst.write(data)


def read_back(target, files):
    for relative, data in files.items():
        with open(os.path.join(target, relative), 'rb') as src:
            assert src.read() == data, relative


def mount_ro(device, target, cleanup):
    os.makedirs(target)
    sh('mount', '-t', 'ext4', '-o', 'ro', device, target)
    cleanup(sh, 'umount', target, check=False)


def verity_open(data, name, hash_device, roothash, cleanup):
    sh('veritysetup', 'open', data, name, hash_device, roothash)
    cleanup(sh, 'veritysetup', 'close', name, check=False)
    return '/dev/mapper/' + name


def attach(image):
    """The image on a new loop device, its partitions as udev leaves
    them: it re-reads the table once losetup has closed the device,
    which gives the partitions new nodes."""
    disk = held.attach(image)
    sh('udevadm', 'settle')
    return disk


def verify(data, hash_device, roothash):
    return sh('veritysetup', 'verify', data, hash_device, roothash,
              check=False)


def flip_byte_of(image, marker):
    """Flip one bit of the first byte of *marker* in the image file."""
    with open(image, 'r+b') as disk:
        data = disk.read()
        offset = data.find(marker)
        assert offset > 0, 'marker not found in the image'
        disk.seek(offset)
        disk.write(bytes([data[offset] ^ 1]))


def key_pair(tmp_path):
    key, cert = str(tmp_path / 'key.pem'), str(tmp_path / 'cert.pem')
    sh('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
       '-keyout', key, '-out', cert, '-days', '2', '-subj',
       '/CN=dib verity test')
    return key, cert


def test_usr_verified_signed_and_a_flipped_byte_refused(tmp_path, cleanup):
    name = TAG + 'usr'
    key, cert = key_pair(tmp_path)
    build = Build(USR % {'name': name, 'key': key, 'cert': cert},
                  root=tmp_path / 'b').prepare()
    cleanup(build.release)
    plan = build.create_as_planned()
    assert plan['fstab'][1] == '/dev/mapper/%s /usr ext4 ro 0 0' % name
    files = {'usr/lib/marker': MARKER * 500, 'etc/hostname': b'usr\n'}
    write(build.mount_base, files)
    build.phases('writefstab', 'umount')
    roothash = build.getval('verity-roothash:' + name)
    assert len(roothash) == 64 and build.getval('verity-roothash') == \
        roothash
    line = build.results(name)['veritytab']
    assert line.startswith('%s PARTUUID=%s UUID=' % (
        name, build.results('usr_data')['partuuid']))
    assert ' %s x-initrd.attach,root-hash-signature=base64:' % roothash \
        in line
    signature = tmp_path / 'roothash.p7s'
    signature.write_bytes(base64.b64decode(
        build.getval('verity-roothash-signature')))
    (tmp_path / 'roothash').write_text(roothash)
    sh('openssl', 'cms', '-verify', '-binary', '-inform', 'DER', '-in',
       str(signature), '-content', str(tmp_path / 'roothash'), '-CAfile',
       cert, '-purpose', 'any', '-out', os.devnull)
    build.phases('writefstab', 'cleanup')
    assert build.built('etc', 'veritytab') == line + '\n'

    image = build.image()
    disk = attach(image)
    cleanup(sh, 'losetup', '--detach', disk, check=False)
    root, data, hashed = (held.partition_node(disk, n) for n in (1, 2, 3))
    mount_ro(root, str(tmp_path / 'root'), cleanup)
    with open(str(tmp_path / 'root/etc/veritytab')) as src:
        assert src.read() == line + '\n'
    assert verify(data, hashed, roothash).returncode == 0
    mapped = verity_open(data, TAG + 'check', hashed, roothash, cleanup)
    target = str(tmp_path / 'usr')
    mount_ro(mapped, target, cleanup)
    read_back(target, {'lib/marker': files['usr/lib/marker']})
    sh('umount', target)
    sh('veritysetup', 'close', TAG + 'check')
    sh('losetup', '--detach', disk)

    flip_byte_of(image, MARKER)
    disk = attach(image)
    cleanup(sh, 'losetup', '--detach', disk, check=False)
    refused = verify(held.partition_node(disk, 2),
                     held.partition_node(disk, 3), roothash)
    assert refused.returncode != 0, refused.stdout
    assert 'Verification of data area failed' in refused.stderr + \
        refused.stdout


def test_reproducible_root_hash(tmp_path, cleanup):
    tree = tmp_path / 'tree'
    write(str(tree), {'etc/hostname': b'repro\n',
                      'usr/lib/data.bin': MARKER * 3000})
    hashes = []
    for run, seed in enumerate(('one', 'one', 'two')):
        # Times as the tree had them (copying it read it: new atimes).
        for folder, _, names in os.walk(str(tree)):
            for entry in names + ['.']:
                os.utime(os.path.join(folder, entry),
                         (1600000000, 1600000000))
        build = Build(ROOT, root=tmp_path / ('b%d' % run)).prepare()
        cleanup(build.release)
        env = {'SOURCE_DATE_EPOCH': '1700000000',
               'DIB_BLOCK_DEVICE_SEED': seed}
        build.phases('init', 'create', env=env)
        sh('cp', '-a', str(tree) + '/.', build.mount_base)
        build.phases('umount', env=env)
        hashes.append(build.getval('verity-roothash'))
        build.phase('cleanup')
        disk = attach(build.image())
        try:
            assert verify(held.partition_node(disk, 1),
                          held.partition_node(disk, 2),
                          hashes[-1]).returncode == 0
        finally:
            sh('losetup', '--detach', disk)
    assert len(hashes[0]) == 64
    assert hashes[0] == hashes[1], 'one seed, one tree: one root hash'
    assert hashes[0] != hashes[2], 'another seed, another salt'


def test_luks_over_verity_and_verity_over_luks(tmp_path, cleanup):
    names = {'va': TAG + 'va', 'ca': TAG + 'ca', 'vb': TAG + 'vb',
             'cb': TAG + 'cb', 'pbkdf': PBKDF}
    build = Build(BOTH_WAYS % names, root=tmp_path / 'b').prepare()
    cleanup(build.release)
    build.create_as_planned(env=KEY_ENV)
    files = {'etc/hostname': b'both\n', 'srv/data': MARKER * 100}
    write(build.mount_base, files)
    build.phases('writefstab', 'umount')
    hash_a = build.getval('verity-roothash:' + names['va'])
    hash_b = build.getval('verity-roothash:' + names['vb'])
    assert build.getval('verity-roothash') == hash_a     # below /
    crypttab = build.built('etc', 'crypttab').splitlines()
    assert crypttab[0] == '%s /dev/mapper/%s none luks,readonly' % (
        names['ca'], names['va'])
    assert crypttab[1] == '%s UUID=%s none luks' % (
        names['cb'], build.results(names['cb'])['uuid'])
    fstab = build.built('etc', 'fstab').splitlines()
    assert fstab[0] == 'LABEL=root / ext4 ro 0 0'
    assert fstab[1] == '/dev/mapper/%s /srv ext4 ro 0 0' % names['vb']
    line_b = build.results(names['vb'])['veritytab']
    assert line_b.startswith('%s /dev/mapper/%s UUID=' % (names['vb'],
                                                          names['cb']))
    build.phase('cleanup')

    disk = attach(build.image())
    cleanup(sh, 'losetup', '--detach', disk, check=False)
    a, a_hash, b, b_hash = (held.partition_node(disk, n)
                            for n in (1, 2, 3, 4))
    # LUKS over verity: the tree covers the container; open it read-only
    # on the verity device, as the crypttab line says.
    assert verify(a, a_hash, hash_a).returncode == 0
    checked = verity_open(a, TAG + 'xva', a_hash, hash_a, cleanup)
    sh('cryptsetup', 'open', '--readonly', '--key-file', '-', checked,
       TAG + 'xca', input=KEY)
    cleanup(sh, 'cryptsetup', 'close', TAG + 'xca', check=False)
    root = str(tmp_path / 'root')
    mount_ro('/dev/mapper/' + TAG + 'xca', root, cleanup)
    read_back(root, {'etc/hostname': files['etc/hostname']})
    with open(os.path.join(root, 'etc/veritytab')) as src:
        assert src.read() == line_b + '\n'
    # verity over LUKS: the tree covers the plaintext inside.
    sh('cryptsetup', 'open', '--key-file', '-', b, TAG + 'xcb', input=KEY)
    cleanup(sh, 'cryptsetup', 'close', TAG + 'xcb', check=False)
    plain = '/dev/mapper/' + TAG + 'xcb'
    assert verify(plain, b_hash, hash_b).returncode == 0
    srv = str(tmp_path / 'srv')
    mount_ro(verity_open(plain, TAG + 'xvb', b_hash, hash_b, cleanup), srv,
             cleanup)
    read_back(srv, {'data': files['srv/data']})
    assert out('blkid', '-p', '-o', 'value', '-s', 'TYPE', a) == \
        'crypto_LUKS\n'
