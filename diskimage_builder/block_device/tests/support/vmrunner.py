"""Run the ``vm``-marked tests inside one throwaway virtme-ng VM.

The host kernel this project is developed on has no device-mapper, no md
and no vfat, so everything that needs them (LVM, LUKS, RAID, mkfs.vfat) is
run in a VM booted with virtme-ng on Debian's generic kernel, under TCG.

Usage::

    python -m diskimage_builder.block_device.tests.support.vmrunner \\
        [--disk NAME=SIZE ...] [--timeout MIN] [--boot-timeout MIN] \\
        [--memory SIZE] [--cpus N] [--kernel PATH] [--kvm] \\
        [--scratch-base DIR] [--junitxml PATH] [--udev-autoassembly] [-v] \\
        [--exec] [-- PYTEST ARGS | -- COMMAND]

With ``--exec`` the words after ``--`` are one command run in the VM's
environment instead of pytest (the VM benchmark uses it); its status is
passed through like pytest's.

Relative paths in PYTEST ARGS may be given from the caller's cwd; pytest
itself runs from the repo root.  ``-m vm`` is always passed first.

Exit status:

* 0-5: the status of pytest inside the VM, passed through unchanged
  (1 tests failed, 2 interrupted, 3 internal error, 4 usage, 5 no tests
  collected).  Other values from inside (e.g. 137 for an OOM kill) are
  passed through too.
* 64: bad runner arguments.
* 69: a tool or file the VM tier needs is missing (vng, qemu, a static
  busybox, a generic kernel, pytest); one line ``VM tier cannot run:
  <what> (<how to get it>)`` was printed.  A failure, not a skip.
* 70: the VM never reported a status (vng error, kernel panic, qemu
  crash) or the guest did not come up within ``--boot-timeout``.
* 77: the VM tier cannot run on this machine (not Linux on x86_64, not
  root, --kvm without /dev/kvm); one line ``VM tier skipped: <reason>``
  was printed.  Callers must count the VM
  tests as skipped, never as passed.
* 124: ``--timeout`` expired; qemu was killed.
* 130: interrupted (SIGINT / SIGTERM / SIGHUP); qemu was killed.

Inside the VM the tests see ``DIB_VM_TIER=1``, ``DIB_VM_SCRATCH`` (a
writable folder shared with the host) and ``DIB_VM_DISKS`` (comma-separated
serials of the ``--disk`` virtio disks, possibly empty).  Use
:func:`vm_disks` and :func:`disk_by_serial` to find those disks.

What the guest is like (virtme-ng 1.42, Debian 6.1 kernel, TCG, 2 vCPUs),
which is why the code below looks the way it does:

* Boot: the guest script starts at ~13-17 s of guest uptime, ~25-35 s of
  wall time after vng starts; one pytest start (imports over 9p under
  TCG) costs another ~15 s.  Several VMs on 2 host cores slow all of them.
* The host root is shared read-only over 9p; /etc, /usr, /var, /home,
  /tmp are writable in-memory overlays and /var/tmp, /var/log, /var/cache
  are fresh tmpfs (host files there are invisible).  $HOME is /root, read
  only.  Only --rwdir folders write through to the host.
* virtme-ng-init starts systemd-udevd, so /dev/disk/by-id/virtio-<serial>
  links and /dev/<vg>/<lv> links exist; /sys/block/vdX/serial works too.
* Modules load from /lib/modules on the shared root; dm, md, raid1, vfat,
  dm-crypt autoload on first use, loop does not (see GUEST_MODULES, which
  loads dm-verity and btrfs too).
  devtmpfs creates loop partition nodes (/dev/loopNpM) by itself.
* The guest's PATH has no pyenv shims and its python3 is Debian's, not the
  host's sys.executable, which is visible and is called by full path.
* The guest is root (vng's default when the host user is root).
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from diskimage_builder.block_device.tests.support.dib import venvs

EXIT_USAGE = 64
EXIT_MISSING = 69
EXIT_VM_FAILED = 70
EXIT_SKIPPED = 77
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130

REPO_ROOT = Path(__file__).resolve().parents[4]

STATUS_FILE = "vm-status"
JUNIT_FILE = "vm-junit.xml"
SCRIPT_FILE = "guest.sh"
GUEST_UP_MARK = "VM tier: guest up"

# Only what the VM cannot boot or reach its root filesystem without; the
# storage features themselves (dm, md, vfat, ...) are proven by the smoke
# tests, so a kernel missing them fails loudly instead of skipping quietly.
REQUIRED_KCONFIG = (
    "CONFIG_VIRTIO_PCI",
    "CONFIG_NET_9P",
    "CONFIG_NET_9P_VIRTIO",
    "CONFIG_9P_FS",
    "CONFIG_VIRTIO_BLK",
    "CONFIG_DEVTMPFS",
    "CONFIG_BLK_DEV_LOOP",
)

# Loaded up front in the guest.  Only ``loop`` is strictly needed: the
# guest has no kmod static-nodes step, so /dev/loop-control does not exist
# until the module is loaded and ``losetup -f`` fails with "No such device".
# dm/md/vfat do autoload (request_module works: /sbin/modprobe and the
# kernel's modules are on the shared root), but loading them here makes a
# missing module show up as one warning at boot rather than as an odd
# failure deep in a test.
GUEST_MODULES = ("loop", "dm_mod", "dm_crypt", "dm_verity", "md_mod", "raid1",
                 "vfat", "btrfs")

# virtme-ng-init starts systemd-udevd in the guest, which is what gives
# /dev/disk/by-id links, but Debian's rules also re-assemble md arrays
# (mdadm --incremental on every change event, e.g. the close-after-write
# that mdadm --stop itself causes) and auto-activate LVM VGs (vgchange -aay
# straight from udev when there is no systemd).  Both race teardown and
# keep loop devices busy, so they are masked in the guest's /etc overlay
# unless --udev-autoassembly is given.
MASKED_UDEV_RULES = ("64-md-raid-assembly.rules", "69-lvm.rules")

# virtme-ng-init mounts fresh tmpfs over these, so host files below them
# are invisible in the guest unless exported again with --rodir.  (The
# scratch folder may live under /var/tmp only because it is --rwdir'd.)
GUEST_MASKED_PREFIXES = (
    "/var/tmp",
    "/var/log",
    "/var/cache",
    "/var/lib/apt",
    "/var/lib/private",
    "/run",
    "/dev/shm",
)

_SERIAL_RE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")  # virtio-blk serial max 20
_SIZE_RE = re.compile(r"^(\d+)([KMGT]?)(i?B)?$", re.IGNORECASE)
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SUMMARY_RE = re.compile(
    r"^=*\s*((?:no tests ran|\d+ [a-z]+(?:, \d+ [a-z]+)*)"
    r" in [0-9.]+s(?: \([0-9:]+\))?)\s*=*\s*$"
)


class Skip(Exception):
    """The VM tier cannot run on this machine; the message says why."""


class Missing(Exception):
    """A tool or file the VM tier needs is not installed; the message
    says which, and how to get it."""


class UsageError(Exception):
    pass


class _Interrupted(Exception):
    pass


# --------------------------------------------------------------------------
# Helpers for tests running inside the VM
# --------------------------------------------------------------------------

def in_vm():
    return os.environ.get("DIB_VM_TIER") == "1"


def vm_disks():
    """Serials of the virtio disks the runner attached (``--disk``)."""
    raw = os.environ.get("DIB_VM_DISKS", "")
    return [s for s in raw.split(",") if s]


def disk_by_serial(serial, timeout=10.0):
    """Device node of the virtio disk with this serial, or None.

    udevd runs in the guest, so /dev/disk/by-id/virtio-<serial> normally
    exists; /sys/block/*/serial is the fallback that needs no udev at all.
    """
    deadline = time.monotonic() + timeout
    while True:
        link = Path("/dev/disk/by-id") / ("virtio-" + serial)
        if link.exists():
            return str(link.resolve())
        for serial_file in Path("/sys/block").glob("*/serial"):
            try:
                if serial_file.read_text().strip() == serial:
                    return "/dev/" + serial_file.parent.name
            except OSError:
                continue
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


# --------------------------------------------------------------------------
# Preflight
# --------------------------------------------------------------------------

def parse_size(text):
    match = _SIZE_RE.match(text.strip())
    if not match:
        raise UsageError("bad size %r (use e.g. 512M, 2G)" % text)
    number, unit = int(match.group(1)), match.group(2).upper()
    size = number * 1024 ** " KMGT".index(unit or " ")
    if size < 1024 * 1024:
        raise UsageError("disk size %r is below 1M" % text)
    return size


def parse_disk(spec):
    name, sep, size = spec.partition("=")
    if not sep:
        raise UsageError("--disk wants NAME=SIZE, got %r" % spec)
    if not _SERIAL_RE.match(name):
        raise UsageError(
            "disk name %r must be 1-20 of [A-Za-z0-9_-] (it becomes the "
            "virtio serial)" % name)
    return name, parse_size(size)


def _version_key(version):
    return [int(n) for n in re.findall(r"\d+", version)]


def read_kconfig(path):
    config = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            key, sep, value = line.strip().partition("=")
            if sep and key.startswith("CONFIG_"):
                config[key] = value
    return config


def find_kernel(boot_dir="/boot", modules_dir="/lib/modules"):
    """Newest generic Debian kernel usable by virtme-ng: (path, version).

    -cloud- kernels lack md/vfat and much else; -rt- ones are not generic.
    """
    reasons = []
    candidates = []
    for image in Path(boot_dir).glob("vmlinuz-*-amd64"):
        version = image.name[len("vmlinuz-"):]
        if "-cloud-" in image.name or "-rt-" in image.name:
            continue
        candidates.append((_version_key(version), version, image))
    if not candidates:
        raise Missing("no generic %s/vmlinuz-*-amd64 kernel "
                      "(apt-get install linux-image-amd64)" % boot_dir)
    for _key, version, image in sorted(candidates, reverse=True):
        config_path = Path(boot_dir) / ("config-" + version)
        if not config_path.is_file():
            reasons.append("%s: no %s" % (version, config_path))
            continue
        config = read_kconfig(config_path)
        missing = [k for k in REQUIRED_KCONFIG if config.get(k) not in
                   ("y", "m")]
        if missing:
            reasons.append("%s: lacks %s" % (version, ",".join(missing)))
            continue
        modular = any(config.get(k) == "m" for k in REQUIRED_KCONFIG)
        if modular and not (Path(modules_dir) / version /
                            "modules.dep").is_file():
            reasons.append("%s: no %s/%s/modules.dep" %
                           (version, modules_dir, version))
            continue
        if not os.access(image, os.R_OK):
            reasons.append("%s: %s not readable" % (version, image))
            continue
        return str(image), version
    raise Missing("no usable kernel (apt-get install linux-image-amd64): "
                  + "; ".join(reasons))


def is_static_elf(path):
    """True when the ELF at path has no PT_INTERP (static or static-pie)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(64)
            if header[:4] != b"\x7fELF":
                return False
            is64 = header[4] == 2
            endian = "<" if header[5] == 1 else ">"
            if is64:
                phoff, = struct.unpack_from(endian + "Q", header, 32)
                phentsize, phnum = struct.unpack_from(endian + "HH", header,
                                                      54)
            else:
                phoff, = struct.unpack_from(endian + "I", header, 28)
                phentsize, phnum = struct.unpack_from(endian + "HH", header,
                                                      42)
            for index in range(phnum):
                handle.seek(phoff + index * phentsize)
                p_type, = struct.unpack(endian + "I", handle.read(4))
                if p_type == 3:  # PT_INTERP
                    return False
            return True
    except (OSError, struct.error):
        return False


def find_static_busybox():
    """Mirror virtme's own search, which takes the first busybox it finds.

    Debian kernels have 9p/virtio as modules, so virtme must build an
    initramfs, and that needs a *static* busybox: Debian's plain ``busybox``
    package is dynamic and vng then refuses to start.  ``busybox-static``
    replaces it with a static /bin/busybox.
    """
    dirs = [os.path.join("/", p, b) for p in ("usr/local", "usr", "")
            for b in ("bin", "sbin")]
    for name in ("busybox-static", "busybox.static", "busybox"):
        found = shutil.which(name)
        if found is None:
            for directory in dirs:
                candidate = os.path.join(directory, name)
                if os.path.isfile(candidate):
                    found = candidate
                    break
        if found is not None:
            return found if is_static_elf(found) else None
    return None


def preflight(args):
    if not sys.platform.startswith("linux"):
        raise Skip("not Linux")
    if os.uname().machine != "x86_64":
        raise Skip("host is %s, the runner boots x86_64 kernels only"
                   % os.uname().machine)
    if os.geteuid() != 0:
        # 9p exports the host root as the calling user; as non-root the
        # guest cannot read root-only files and tests cannot run as root.
        raise Skip("must run as root")
    vng = shutil.which("vng")
    if vng is None:
        raise Missing("vng not found (pip install virtme-ng)")
    if shutil.which("qemu-system-x86_64") is None:
        raise Missing("qemu-system-x86_64 not found "
                      "(apt-get install qemu-system-x86)")
    if find_static_busybox() is None:
        raise Missing("no statically linked busybox for virtme's "
                      "initramfs (apt-get install busybox-static)")
    if args.kernel:
        if not os.access(args.kernel, os.R_OK):
            raise Missing("kernel %s not readable" % args.kernel)
        kernel = args.kernel
    else:
        kernel, _version = find_kernel()
    if args.kvm and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise Skip("--kvm given but /dev/kvm is not usable")
    try:
        subprocess.run([sys.executable, "-c", "import pytest"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        raise Missing("pytest is not importable by %s (pip install -r "
                      "test-requirements.txt)" % sys.executable)
    return vng, kernel


# --------------------------------------------------------------------------
# Guest side
# --------------------------------------------------------------------------

def _hidden_in_guest(path):
    path = os.path.realpath(path)
    return any(path == p or path.startswith(p + "/")
               for p in GUEST_MASKED_PREFIXES)


def _absolutize_pytest_args(pytest_args, cwd, repo):
    """Paths given relative to the caller's cwd, rebased for the guest.

    The guest runs pytest from the repo root, so a relative path typed
    elsewhere would silently select nothing.
    """
    if os.path.realpath(cwd) == os.path.realpath(repo):
        return list(pytest_args)
    result = []
    for arg in pytest_args:
        if not arg.startswith("-"):
            path_part, sep, rest = arg.partition("::")
            candidate = os.path.join(cwd, path_part)
            if path_part and os.path.exists(candidate):
                arg = os.path.abspath(candidate) + sep + rest
        result.append(arg)
    return result


def guest_script(scratch, repo, python, disks, pytest_args,
                 udev_autoassembly=False, exec_command=None):
    q = shlex.quote
    status = os.path.join(scratch, STATUS_FILE)
    junit = os.path.join(scratch, JUNIT_FILE)
    pybin = os.path.dirname(python)
    lines = [
        "#!/bin/sh",
        # The guest's stdout and stderr are two separate virtio ports that
        # reach the host unordered; one port keeps pytest's output in order.
        "exec 2>&1",
        'echo "%s at $(cut -d" " -f1 /proc/uptime)s uptime,'
        ' kernel $(uname -r)"' % GUEST_UP_MARK,
        "for m in %s; do" % " ".join(GUEST_MODULES),
        '  modprobe "$m" || echo "VM tier: warning: modprobe $m failed"',
        "done",
    ]
    if not udev_autoassembly:
        lines += [
            "mkdir -p /etc/udev/rules.d",
            "for r in %s; do" % " ".join(MASKED_UDEV_RULES),
            '  : > "/etc/udev/rules.d/$r" ||'
            ' echo "VM tier: warning: cannot mask udev rule $r"',
            "done",
            "udevadm control --reload >/dev/null 2>&1 || true",
        ]
    lines += [
        "udevadm settle --timeout=30 >/dev/null 2>&1 || true",
    ]
    for serial in disks:
        lines += [
            "i=0",
            "while [ ! -e /dev/disk/by-id/virtio-%s ] && [ $i -lt 50 ]; do"
            % serial,
            "  sleep 0.2; i=$((i+1))",
            "done",
            "[ -e /dev/disk/by-id/virtio-%s ] || echo 'VM tier: warning:"
            " /dev/disk/by-id/virtio-%s missing'" % (serial, serial),
        ]
    if exec_command:
        command = list(exec_command)
    else:
        command = [python, "-m", "pytest", "-p", "no:cacheprovider", "-m",
                   "vm"]
        command += list(pytest_args)
        command.append("--junitxml=" + junit)
    lines += [
        "cd %s || { echo 3 > %s; exit 3; }" % (q(repo), q(status)),
        # The guest PATH has no pyenv shims and its python3 is Debian's, so
        # the host interpreter is called by full path and put first.
        "export PATH=%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
        "/sbin:/bin" % q(pybin),
        # The repo and $HOME are on the read-only shared root.
        "export PYTHONDONTWRITEBYTECODE=1",
        "export XDG_CACHE_HOME=/tmp/dib-vm-cache",
        "export DIB_VM_TIER=1",
        "export DIB_VM_SCRATCH=%s" % q(scratch),
        "export DIB_VM_DISKS=%s" % q(",".join(disks)),
        "export DIB_TEST_VENVS=%s" % q(venvs.cache_dir()),
        " ".join(q(c) for c in command),
        "rc=$?",
        # Written then renamed: a half-written file must not read as 0.
        'echo "$rc" > {0}.tmp && mv {0}.tmp {0}'.format(q(status)),
        "sync",
        'exit "$rc"',
    ]
    return "\n".join(lines) + "\n"


def byte_compile(python, repo):
    """Compile the package on the host: the guest sees the repo read-only,
    and without .pyc files every phase it runs would compile every module
    again, slowly, under TCG."""
    proc = subprocess.run(
        [python, "-m", "compileall", "-q",
         os.path.join(repo, "diskimage_builder")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode:
        print("VM tier: warning: compileall failed (the guest will compile "
              "from source): %s" % proc.stdout.strip(), flush=True)


def vng_command(vng, kernel, scratch, disk_files, args, rodirs):
    command = [
        vng, "--run", kernel,
        # The default is the host user, which is root here anyway; being
        # explicit keeps the guest root even if the check above changes.
        "--user", "root",
        # 9p even if virtiofsd appears one day: no helper daemon to leak.
        "--force-9p",
        "--memory", args.memory,
        "--cpus", str(args.cpus),
        "--name", "dib-vmtest",
        "--rwdir", scratch,
    ]
    if not args.kvm:
        # Nested KVM is broken on this kind of host; TCG is slow but works.
        command.append("--disable-kvm")
    for path in rodirs:
        command += ["--rodir", path]
    qemu_opts = []
    for index, (serial, path) in enumerate(disk_files):
        # Not vng's --disk: that lets qemu probe the format, and a probed
        # raw image refuses writes to sector 0 (where partition tables go).
        # cache=unsafe: the images are thrown away, so host flushes would
        # only slow the guest down.
        qemu_opts += [
            "-drive", "file=%s,format=raw,if=none,id=dibd%d,cache=unsafe"
            % (path, index),
            "-device", "virtio-blk-pci,drive=dibd%d,serial=%s"
            % (index, serial),
        ]
    if qemu_opts:
        # vng joins this into one string and re-splits it on whitespace,
        # hence the check for spaces/commas in the scratch path.  The "="
        # form is needed: a separate argument starting with "-" is taken
        # by argparse for an option.
        command.append("--qemu-opts=" + " ".join(qemu_opts))
    command += ["--exec", "sh " + os.path.join(scratch, SCRIPT_FILE)]
    return command


# --------------------------------------------------------------------------
# Host side
# --------------------------------------------------------------------------

class _Streamer(threading.Thread):
    """Copies the VM's output to our stdout and remembers pytest's summary.

    vng's output must be a pipe: qemu opens the guest's stdout and stderr
    ports as /proc/self/fd/1 and /proc/self/fd/2, and when those are a file
    each open truncates it and writes at its own offset, so stderr
    overwrites the first lines of stdout.
    """

    def __init__(self, stream, out):
        super().__init__(daemon=True)
        self.stream = stream
        self.out = out
        self.summary = None
        self.booted = threading.Event()

    def run(self):
        pending = b""
        while True:
            # Chunks, not lines: pytest's progress dots carry no newline
            # and would otherwise stay invisible until a test file ends.
            chunk = self.stream.read1(65536)
            if not chunk:
                break
            try:
                self.out.write(chunk)
                self.out.flush()
            except (OSError, ValueError):
                pass
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                self._scan(raw)
        if pending:
            self._scan(pending)

    def _scan(self, raw):
        text = _ANSI_RE.sub("", raw.decode("utf-8", "replace"))
        # Guest console lines may carry a trailing \r.
        text = text.replace("\r", "").strip()
        if text.startswith(GUEST_UP_MARK):
            self.booted.set()
        match = _SUMMARY_RE.match(text)
        if match:
            self.summary = match.group(1)


def _kill_group(proc, grace=10.0):
    """Ends vng and its qemu child; both share the group we started."""
    if proc is None:
        return
    pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            continue
        break
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


def _junit_summary(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    tests = failures = errors = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failures += int(suite.get("failures", 0))
        errors += int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    passed = tests - failures - errors - skipped
    return "%d passed, %d failed, %d skipped" % (passed, failures + errors,
                                                 skipped)


def _raise_interrupted(signum, _frame):
    raise _Interrupted(signal.Signals(signum).name)


def run(args, pytest_args):
    disks = [parse_disk(spec) for spec in args.disk]
    names = [name for name, _size in disks]
    if len(set(names)) != len(names):
        raise UsageError("duplicate --disk names")
    try:
        vng, kernel = preflight(args)
    except Skip as exc:
        print("VM tier skipped: %s" % exc, flush=True)
        return EXIT_SKIPPED
    except Missing as exc:
        print("VM tier cannot run: %s" % exc, flush=True)
        return EXIT_MISSING

    python = os.path.realpath(sys.executable)
    repo = str(REPO_ROOT)
    exec_command = None
    if args.exec:
        if not pytest_args:
            raise UsageError("--exec needs a command after --")
        exec_command, pytest_args = pytest_args, []
    pytest_args = _absolutize_pytest_args(pytest_args, os.getcwd(), repo)

    base = os.path.realpath(args.scratch_base)
    os.makedirs(base, exist_ok=True)
    old_handlers = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        old_handlers[sig] = signal.signal(sig, _raise_interrupted)

    scratch = None
    proc = None
    streamer = None
    code = EXIT_VM_FAILED
    started = time.monotonic()
    try:
        scratch = tempfile.mkdtemp(prefix="dib-vmtest-", dir=base)
        if re.search(r"[\s,=]", scratch):
            raise UsageError("scratch path %r must not contain spaces, "
                             "commas or '='" % scratch)
        disk_files = []
        for name, size in disks:
            path = os.path.join(scratch, name + ".img")
            with open(path, "wb") as handle:
                handle.truncate(size)  # sparse
            disk_files.append((name, path))
        # The diskimage-builder tier's venvs (tests/support/dib/venvs.py) are
        # built on the host, below /var/tmp by default.
        test_venvs = venvs.cache_dir()
        rodirs = sorted({p for p in (repo, os.path.dirname(python),
                                     test_venvs)
                         if _hidden_in_guest(p) and os.path.isdir(p)})
        byte_compile(python, repo)
        script = guest_script(scratch, repo, python, names, pytest_args,
                              udev_autoassembly=args.udev_autoassembly,
                              exec_command=exec_command)
        with open(os.path.join(scratch, SCRIPT_FILE), "w") as handle:
            handle.write(script)
        command = vng_command(vng, kernel, scratch, disk_files, args, rodirs)
        print("VM tier: booting %s (%s, %s, %d cpus, disks: %s); timeout "
              "%g min" % (kernel, "KVM" if args.kvm else "TCG", args.memory,
                          args.cpus, ",".join(names) or "none",
                          args.timeout), flush=True)
        if args.verbose:
            print("VM tier: " + shlex.join(command), flush=True)

        proc = subprocess.Popen(
            command, cwd=repo,
            # qemu wires the guest's stdin to ours; a terminal there would
            # be switched to raw mode and Ctrl-C would go to qemu.
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            # Own process group: one killpg reaches vng and qemu, and a
            # Ctrl-C on our terminal reaches only us, so we clean up.
            start_new_session=True)
        streamer = _Streamer(proc.stdout, sys.stdout.buffer)
        streamer.start()
        deadline = started + args.timeout * 60
        boot_deadline = started + min(args.boot_timeout, args.timeout) * 60
        while True:
            try:
                vng_status = proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if now >= deadline:
                print("\nVM tier: timeout after %g min, killing qemu"
                      % args.timeout, flush=True)
                return EXIT_TIMEOUT
            if not streamer.booted.is_set() and now >= boot_deadline:
                # A kernel that cannot boot leaves qemu in the firmware
                # retrying forever; no point waiting for the full timeout.
                print("\nVM tier: the guest did not come up within %g min,"
                      " killing qemu" % args.boot_timeout, flush=True)
                return EXIT_VM_FAILED
        streamer.join(timeout=30)
        elapsed = time.monotonic() - started

        # vng does pass the exec'd command's status through, but reports
        # 255 for a guest that died and its own errors as 1, which would be
        # indistinguishable from "tests failed"; the status file is not.
        status_path = os.path.join(scratch, STATUS_FILE)
        try:
            with open(status_path) as handle:
                code = int(handle.read().strip())
        except (OSError, ValueError):
            print("VM tier: the VM ended (vng status %d) without reporting "
                  "a pytest status after %.0fs" % (vng_status, elapsed),
                  flush=True)
            return EXIT_VM_FAILED
        if exec_command:
            print("VM tier: %s exited %d after %.0fs in all"
                  % (shlex.join(exec_command), code, elapsed), flush=True)
            return code
        if args.junitxml:
            shutil.copyfile(os.path.join(scratch, JUNIT_FILE), args.junitxml)
        summary = streamer.summary or _junit_summary(
            os.path.join(scratch, JUNIT_FILE))
        print("VM tier: pytest in the VM exited %d after %.0fs in all"
              % (code, elapsed), flush=True)
        if summary:
            print(summary, flush=True)
        return code
    except (KeyboardInterrupt, _Interrupted) as exc:
        print("\nVM tier: interrupted (%s), killing qemu"
              % (str(exc) or "SIGINT"), flush=True)
        return EXIT_INTERRUPTED
    finally:
        # A second Ctrl-C or SIGTERM must not cut the cleanup short.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for sig in old_handlers:
            signal.signal(sig, signal.SIG_IGN)
        _kill_group(proc)
        if streamer is not None:
            streamer.join(timeout=10)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        signal.signal(signal.SIGINT, previous_int)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print("%s: error: %s" % (self.prog, message), file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser():
    parser = _Parser(
        prog="python -m diskimage_builder.block_device.tests.support.vmrunner",
        description="Run the vm-marked tests in one virtme-ng VM. "
                    "Arguments after -- go to pytest inside the VM.")
    parser.add_argument(
        "--disk", action="append", default=[], metavar="NAME=SIZE",
        help="attach a sparse raw virtio disk of SIZE (e.g. 2G) whose "
             "serial is NAME; repeatable")
    parser.add_argument(
        "--timeout", type=float, default=40.0, metavar="MIN",
        help="kill the VM and fail after this many minutes (default 40)")
    parser.add_argument(
        "--boot-timeout", type=float, default=5.0, metavar="MIN",
        help="fail (status 70) if the guest has not started its script "
             "after this many minutes (default 5; boot takes ~15-30 s)")
    parser.add_argument("--memory", default="2G",
                        help="guest memory (default 2G)")
    parser.add_argument("--cpus", type=int, default=2,
                        help="guest CPUs (default 2)")
    parser.add_argument("--kernel",
                        help="kernel image (default: newest generic "
                             "/boot/vmlinuz-*-amd64)")
    parser.add_argument("--kvm", action="store_true",
                        help="use KVM instead of TCG (nested KVM usually "
                             "fails on this project's hosts)")
    parser.add_argument("--scratch-base", default="/var/tmp",
                        help="host folder in which the per-run scratch "
                             "folder (disks, results) is made")
    parser.add_argument("--junitxml", metavar="PATH",
                        help="copy the guest's junit XML here")
    parser.add_argument("--udev-autoassembly", action="store_true",
                        help="keep udev's md auto-assembly and LVM "
                             "auto-activation rules in the guest")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the vng command line")
    parser.add_argument("--exec", action="store_true",
                        help="run the command after -- in the VM instead "
                             "of pytest")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        split = argv.index("--")
        own, pytest_args = argv[:split], argv[split + 1:]
    else:
        own, pytest_args = argv, []
    parser = build_parser()
    args = parser.parse_args(own)
    if args.timeout <= 0 or args.boot_timeout <= 0 or args.cpus < 1:
        parser.error("--timeout, --boot-timeout and --cpus must be "
                     "positive")
    try:
        return run(args, pytest_args)
    except UsageError as exc:
        print("VM tier: error: %s" % exc, file=sys.stderr, flush=True)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
