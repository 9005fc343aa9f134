"""Support of the slow opt-in test: where this host gets Debian from, and
booting an image under qemu until it shows a login prompt."""
import fcntl
import glob
import os
import re
import subprocess
import time
import urllib.parse

SOURCES = '/etc/apt/sources.list*'
# Shared with the VM tier's users (flock /tmp/dib-vm.lock ...): one VM at
# a time on this project's 2-core hosts.  Taken here, around the boot
# only, so do not run this test under that flock as well.
VM_LOCK = '/tmp/dib-vm.lock'
LOGIN_PROMPT = re.compile(rb'login:\s*$', re.MULTILINE)


def apt_sources(pattern=SOURCES):
    """[(uri, suite)] of every ``deb`` source this host's apt uses, in
    both formats (one-line .list and deb822 .sources)."""
    found = []
    paths = glob.glob(pattern) + glob.glob(os.path.join(pattern, '*'))
    for path in sorted(set(paths)):
        if path.endswith('.list') or path.endswith('sources.list'):
            found += _one_line_sources(path)
        elif path.endswith('.sources'):
            found += _deb822_sources(path)
    return found


def _one_line_sources(path):
    found = []
    with open(path) as src:
        for line in src:
            words = re.sub(r'\[[^]]*\]', '', line.split('#')[0]).split()
            if len(words) >= 3 and words[0] == 'deb':
                found.append((words[1], words[2]))
    return found


def _deb822_sources(path):
    found = []
    with open(path) as src:
        stanzas = src.read().split('\n\n')
    for stanza in stanzas:
        fields = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(':')
            if sep and not line.startswith((' ', '#')):
                fields[key.strip().lower()] = value.split()
        if 'deb' in fields.get('types', []):
            found += [(uri, suite) for uri in fields.get('uris', [])
                      for suite in fields.get('suites', [])]
    return found


def debian_mirror(sources):
    """(mirror, security mirror, release) from the host's sources: the
    first plain Debian suite's mirror, and debian-security on the same
    host.  None when the host has no Debian source."""
    for uri, suite in sources:
        if re.match(r'^[a-z]+$', suite) and uri.rstrip('/').endswith(
                '/debian'):
            parts = urllib.parse.urlsplit(uri)
            security = urllib.parse.urlunsplit(
                (parts.scheme, parts.netloc, '/debian-security', '', ''))
            return uri.rstrip('/'), security, suite
    return None


def boot_to_login(image, console, timeout):
    """Boot *image* (qcow2, left untouched: snapshot=on) under qemu with
    TCG and its first serial port written to *console*.  Returns
    (True once a login prompt shows there, False when *timeout* seconds
    pass first or qemu ends; seconds from starting qemu).  Waits for the
    VM lock first."""
    with open(VM_LOCK, 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        return _boot(image, console, timeout), time.monotonic() - started


def _boot(image, console, timeout):
    qemu = subprocess.Popen(
        ['qemu-system-x86_64', '-machine', 'accel=tcg', '-m', '1024',
         '-smp', '2', '-display', 'none', '-monitor', 'none', '-nic', 'none',
         '-no-reboot', '-serial', 'file:' + console,
         '-drive', 'file=%s,format=qcow2,if=virtio,snapshot=on' % image],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and qemu.poll() is None:
            if LOGIN_PROMPT.search(read_console(console)):
                return True
            time.sleep(5)
        return False
    finally:
        qemu.kill()
        qemu.wait()


def read_console(console):
    try:
        with open(console, 'rb') as src:
            return src.read().replace(b'\r', b'')
    except FileNotFoundError:
        return b''  # qemu never started
