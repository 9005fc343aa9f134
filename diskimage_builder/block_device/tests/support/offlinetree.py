"""The tree the offline build tests make images of, written by a script
that needs nothing but the standard library, so that it runs as uid
65534 under fakeroot with Debian's python3::

    fakeroot -s STATE python3 offlinetree.py make TREE
    fakeroot -i STATE python3 offlinetree.py xattrs TREE -- COMMAND...

``make`` writes the tree: nested folders, files of many sizes, a sparse
file, hard links, short and long symlinks, a device node and a FIFO,
setuid and setgid modes, a sticky folder, several owners, names with
spaces and non-ASCII letters, and every time set.  Each top folder is
one mount point's part (``boot/efi`` holds only what FAT can, ``srv``
only what an xfs protofile can carry).

``xattrs`` sets the tree's ``user.*`` extended attributes, then runs
COMMAND: fakeroot 1.31 keeps extended attributes in its daemon, for
the session only (``-s`` does not save them) and hides those on disk, so
they are set in each session that reads the tree.  Run without fakeroot
it sets them on disk.
"""
import os
import random
import sys

MIB = 1 << 20
# Every time in the tree: whole even seconds (FAT keeps two-second
# steps), and nanoseconds where the filesystem keeps them.
EPOCH = 1600000000
NS = 123456789
OWNERS = ((0, 0), (1000, 1000), (1234, 5678), (65534, 65534))
SIZES = (0, 1, 59, 60, 511, 512, 4095, 4096, 4097, 65536, MIB + 7,
         3 * MIB)
LONG_TARGET = '../' + '/'.join(['a-long-folder-name'] * 16) + '/target'
# {path: {name: value}}, set by ``xattrs``.
XATTRS = {
    'etc/hostname': {'user.origin': b'offline test',
                     'user.empty': b''},
    'usr/share/doc': {'user.folder': b'on a folder'},
    'var/lib/data/blob.bin': {'user.big': b'x' * 200},
    'boot/grub/grub.cfg': {'user.boot': b'ext2 too'},
}


def write(path, data, mode=0o644, owner=(0, 0)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as out:
        out.write(data)
    os.chmod(path, mode)
    os.lchown(path, *owner)


def data(rng, size):
    if size % 2:
        return rng.randbytes(size)
    return (b'text line of the offline tree\n' * (size // 30 + 1))[:size]


def sparse(path, size, chunks):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as out:
        out.truncate(size)
        for offset in chunks:
            out.seek(offset)
            out.write(b'data in a sparse file' * 200)


def make_root(top, rng):
    write(os.path.join(top, 'etc/hostname'), b'offline\n')
    write(os.path.join(top, 'etc/shadow'), b'root:*:1::::::\n', 0o640,
          (0, 42))
    for depth in range(1, 6):
        folder = os.path.join(top, 'usr/share', *['n%d' % d
                                                  for d in range(depth)])
        for index, size in enumerate(SIZES):
            owner = OWNERS[(index + depth) % len(OWNERS)]
            write(os.path.join(folder, 'f%02d' % index), data(rng, size),
                  0o644 if index % 3 else 0o600, owner)
    docs = os.path.join(top, 'usr/share/doc')
    write(os.path.join(docs, 'a name with spaces.txt'), b'spaces\n')
    write(os.path.join(docs, 'ünïcödé ☃ naïve.txt'), b'unicode\n')
    write(os.path.join(top, 'usr/bin/tool'), data(rng, 20001), 0o4755)
    write(os.path.join(top, 'usr/bin/group-tool'), data(rng, 3001), 0o2755,
          (0, 50))
    os.link(os.path.join(top, 'usr/bin/tool'),
            os.path.join(top, 'usr/bin/tool-again'))
    os.link(os.path.join(top, 'usr/bin/tool'),
            os.path.join(top, 'usr/sbin-tool-link'))
    os.symlink('tool', os.path.join(top, 'usr/bin/short-link'))
    os.symlink(LONG_TARGET, os.path.join(top, 'usr/bin/long-link'))
    os.symlink('/nonexistent/dangling', os.path.join(top, 'usr/dangling'))
    os.makedirs(os.path.join(top, 'tmp'))
    os.chmod(os.path.join(top, 'tmp'), 0o1777)
    os.makedirs(os.path.join(top, 'usr/local/shared'))
    os.chmod(os.path.join(top, 'usr/local/shared'), 0o2775)
    os.lchown(os.path.join(top, 'usr/local/shared'), 0, 50)
    dev = os.path.join(top, 'dev')
    os.makedirs(dev)
    os.mknod(os.path.join(dev, 'null'), 0o20666, os.makedev(1, 3))
    os.mknod(os.path.join(dev, 'sda'), 0o60660, os.makedev(8, 0))
    os.lchown(os.path.join(dev, 'sda'), 0, 6)
    os.mkfifo(os.path.join(dev, 'initctl'), 0o600)
    sparse(os.path.join(top, 'usr/lib/sparse.img'), 64 * MIB,
           (0, 20 * MIB, 63 * MIB))


def make_boot(top, rng):
    write(os.path.join(top, 'boot/vmlinuz-6.1'), data(rng, 2 * MIB + 1))
    write(os.path.join(top, 'boot/grub/grub.cfg'), b'set timeout=1\n')
    os.symlink('vmlinuz-6.1', os.path.join(top, 'boot/vmlinuz'))
    esp = os.path.join(top, 'boot/efi/EFI')
    write(os.path.join(esp, 'BOOT/BOOTX64.EFI'), data(rng, 300001))
    write(os.path.join(esp, 'debian/grub.cfg'), b'search root\n')
    write(os.path.join(esp, 'debian/a long file name.txt'), b'long\n')
    # Long enough for a long name: mtools 4.0.32 reads a short name of
    # non-ASCII letters back wrongly (the kernel does not).
    write(os.path.join(esp, 'debian/ünïcödé ☃ long name.txt'),
          b'unicode\n')
    write(os.path.join(esp, 'empty'), b'')


def make_var(top, rng):
    write(os.path.join(top, 'var/lib/data/blob.bin'), data(rng, MIB + 1),
          0o640, (1234, 5678))
    write(os.path.join(top, 'var/log/syslog'), data(rng, 7000), 0o640,
          (0, 4))
    os.link(os.path.join(top, 'var/log/syslog'),
            os.path.join(top, 'var/log/syslog.hard'))
    os.symlink('../lib/data/blob.bin', os.path.join(top, 'var/log/link'))
    os.makedirs(os.path.join(top, 'var/tmp'))
    os.chmod(os.path.join(top, 'var/tmp'), 0o1777)
    sparse(os.path.join(top, 'var/lib/sparse'), 32 * MIB, (8 * MIB,))


def make_srv(top, rng):
    # What an xfs protofile carries: no white space in names, no hard
    # links, no extended attributes, no sticky bit.
    for index, size in enumerate(SIZES):
        write(os.path.join(top, 'srv/www/file%02d' % index), data(rng, size),
              0o644, OWNERS[index % len(OWNERS)])
    write(os.path.join(top, 'srv/www/cgi'), data(rng, 999), 0o6755)
    os.symlink('www/file01', os.path.join(top, 'srv/short'))
    os.symlink(LONG_TARGET, os.path.join(top, 'srv/long'))
    os.mknod(os.path.join(top, 'srv/zero'), 0o20666, os.makedev(1, 5))
    os.mkfifo(os.path.join(top, 'srv/fifo'), 0o620)
    sparse(os.path.join(top, 'srv/sparse'), 16 * MIB, (4 * MIB,))


def set_times(top):
    """Every entry's times, folders last (deepest first)."""
    entries = []
    for folder, dirs, files in os.walk(top):
        entries += [os.path.join(folder, name) for name in dirs + files]
    for index, path in enumerate(sorted(entries, reverse=True)):
        when = (EPOCH + 2 * index) * 10 ** 9 + NS
        os.utime(path, ns=(when + 10 ** 9, when), follow_symlinks=False)
    os.utime(top, ns=(EPOCH * 10 ** 9 + NS, EPOCH * 10 ** 9 + NS))


def make(top):
    rng = random.Random(20240229)
    os.makedirs(top, exist_ok=True)
    os.chmod(top, 0o755)
    for part in (make_root, make_boot, make_var, make_srv):
        part(top, rng)
    set_times(top)


def set_xattrs(top):
    for relative, names in sorted(XATTRS.items()):
        for name, value in sorted(names.items()):
            os.setxattr(os.path.join(top, relative), name, value,
                        follow_symlinks=False)
    # Setting an attribute changes no time but the change time.


def main(argv):
    if len(argv) >= 2 and argv[0] == 'make':
        make(argv[1])
        return 0
    if len(argv) >= 2 and argv[0] == 'xattrs':
        set_xattrs(argv[1])
        command = argv[argv.index('--') + 1:] if '--' in argv else []
        if command:
            os.execvp(command[0], command)
        return 0
    sys.stderr.write(__doc__)
    return 64


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
