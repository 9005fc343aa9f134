"""Proof that the VM tier's kernel and tools can do what later tests need.

Each test builds a real storage stack over loop devices, checks the kernel
really did the work (data read back through a different layer), and tears
everything down again, so a failure here points at the VM environment
rather than at the block_device code.
"""

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from diskimage_builder.block_device.tests.support import vmrunner as runner

MIB = 1024 * 1024
SECTOR = 512
# pid-suffixed so that a leftover from an aborted run cannot collide.
TAG = "dibvm%d" % os.getpid()


def sh(*cmd, input=None, check=True):
    env = dict(os.environ, LVM_SUPPRESS_FD_WARNINGS="1")
    proc = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(
            "%s exited %d\nstdout: %s\nstderr: %s" % (
                " ".join(cmd), proc.returncode,
                proc.stdout.decode(errors="replace"),
                proc.stderr.decode(errors="replace")))
    return proc


def out(*cmd, **kwargs):
    return sh(*cmd, **kwargs).stdout.decode()


def settle():
    sh("udevadm", "settle", "--timeout=30", check=False)


def write_at(dev, offset, data):
    fd = os.open(dev, os.O_WRONLY)
    try:
        assert os.pwrite(fd, data, offset) == len(data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_at(dev, offset, length):
    # Each block device has its own page cache; dropping this one's makes
    # the read come from what the layer below really holds.
    sh("blockdev", "--flushbufs", dev)
    fd = os.open(dev, os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def pattern(label):
    return (label.encode() * 64)[:256] + os.urandom(4096 - 256)


def mdstat():
    return Path("/proc/mdstat").read_text()


@pytest.fixture
def loop(tmp_path, cleanup):
    """Factory: a loop device over a fresh sparse file, detached afterwards."""
    def make(name, size=64 * MIB, partscan=False):
        image = tmp_path / (name + ".img")
        with open(image, "wb") as handle:
            handle.truncate(size)
        args = ["losetup", "--find", "--show"]
        if partscan:
            args.append("--partscan")
        dev = out(*args, str(image)).strip()
        assert dev.startswith("/dev/loop"), dev
        cleanup(sh, "losetup", "--detach", dev, check=False)
        return dev
    return make


def test_guest_environment():
    assert os.environ.get("DIB_VM_TIER") == "1"
    assert os.geteuid() == 0
    modules = Path("/proc/modules").read_text()
    for module in ("loop", "dm_mod", "dm_crypt", "md_mod", "raid1", "vfat"):
        assert re.search(r"^%s " % module, modules, re.M), module
    assert os.path.exists("/dev/loop-control")
    assert os.path.exists("/dev/mapper/control")

    scratch = Path(os.environ["DIB_VM_SCRATCH"])
    probe = scratch / ("probe-%s" % TAG)
    try:
        probe.write_text("written in the guest")
        assert probe.read_text() == "written in the guest"
    finally:
        probe.unlink(missing_ok=True)


def test_dm_linear_maps_onto_loop(loop, cleanup):
    dev = loop("dm")
    name = TAG + "-linear"
    # Offset 2048 so a pass proves the mapping, not an identity.
    table = "0 4096 linear %s 2048" % dev
    sh("dmsetup", "create", name, "--table", table)
    cleanup(sh, "dmsetup", "remove", "--retry", name, check=False)
    mapped = "/dev/mapper/" + name

    table_out = out("dmsetup", "table", name)
    assert re.match(r"0 4096 linear \d+:\d+ 2048", table_out), table_out
    assert int(out("blockdev", "--getsz", mapped)) == 4096

    data = pattern("dm-linear")
    write_at(mapped, 0, data)
    assert read_at(dev, 2048 * SECTOR, len(data)) == data
    assert read_at(dev, 0, len(data)) != data

    sh("dmsetup", "remove", "--retry", name)
    settle()
    assert not os.path.exists(mapped)
    assert name not in out("dmsetup", "ls")


def test_md_raid1_mirrors_both_members(loop, cleanup):
    members = [loop("md-a"), loop("md-b")]
    md = "/dev/md%d" % (100 + os.getpid() % 800)
    md_name = os.path.basename(md)
    sh("mdadm", "--create", md, "--run", "--level=1", "--raid-devices=2",
       "--metadata=1.2", "--assume-clean", *members)

    def stop_and_wipe():
        sh("mdadm", "--stop", md, check=False)
        settle()
        for member in members:
            sh("mdadm", "--zero-superblock", member, check=False)
    cleanup(stop_and_wipe)

    status = mdstat()
    line = next((row for row in status.splitlines()
                 if row.startswith(md_name + " ")), "")
    assert "active raid1" in line, status
    for member in members:
        assert os.path.basename(member) in line, status
    assert "[UU]" in status, status

    data = pattern("md-raid1")
    write_at(md, 0, data)
    for member in members:
        examine = out("mdadm", "--examine", member)
        offset = int(re.search(r"Data Offset : (\d+) sectors",
                               examine).group(1))
        assert read_at(member, offset * SECTOR, len(data)) == data

    sh("mdadm", "--stop", md)
    settle()
    assert not re.search(r"^%s " % md_name, mdstat(), re.M), mdstat()


def test_vfat_mkfs_mount_write_read(loop, cleanup, tmp_path):
    dev = loop("vfat")
    sh("mkfs.vfat", "-n", "DIBVM", dev)
    assert out("blkid", "-p", "-o", "value", "-s", "TYPE", dev).strip() \
        == "vfat"
    assert out("blkid", "-p", "-o", "value", "-s", "LABEL",
               dev).strip() == "DIBVM"

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = []

    def umount():
        while mounted:
            sh("umount", mounted.pop(), check=False)
    cleanup(umount)

    sh("mount", "-t", "vfat", dev, str(mnt))
    mounted.append(str(mnt))
    assert out("findmnt", "-n", "-o", "FSTYPE", str(mnt)).strip() == "vfat"
    (mnt / "EFI").mkdir()
    (mnt / "EFI" / "hello.txt").write_text("vfat in the VM\n")
    sh("umount", str(mnt))
    mounted.pop()

    # Remount: the data must come from the filesystem, not a cache.
    sh("mount", "-t", "vfat", "-o", "ro", dev, str(mnt))
    mounted.append(str(mnt))
    assert (mnt / "EFI" / "hello.txt").read_text() == "vfat in the VM\n"
    sh("umount", str(mnt))
    mounted.pop()
    assert sh("findmnt", str(mnt), check=False).returncode != 0


def test_luks_format_open_close(loop, cleanup):
    dev = loop("luks")
    key = b"dib-vm-smoke-passphrase"
    name = TAG + "-crypt"
    mapped = "/dev/mapper/" + name
    sh("cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2",
       "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
       "--key-file", "-", dev, input=key)
    assert sh("cryptsetup", "isLuks", dev, check=False).returncode == 0

    wrong = sh("cryptsetup", "open", "--key-file", "-", dev, name,
               input=b"not the key", check=False)
    assert wrong.returncode != 0
    assert not os.path.exists(mapped)

    sh("cryptsetup", "open", "--key-file", "-", dev, name, input=key)
    cleanup(sh, "cryptsetup", "close", name, check=False)
    assert os.path.exists(mapped)
    assert "is active" in out("cryptsetup", "status", name)

    data = pattern("luks-plain")
    write_at(mapped, 0, data)
    assert read_at(mapped, 0, len(data)) == data
    raw = read_at(dev, 0, 64 * MIB)
    assert data[:256] not in raw, "plaintext reached the disk"

    sh("cryptsetup", "close", name)
    settle()
    assert not os.path.exists(mapped)


def test_lvm_pv_vg_lv_and_deactivate(loop, cleanup):
    dev = loop("lvm")
    vg = TAG
    sh("pvcreate", "--yes", dev)
    cleanup(sh, "pvremove", "--yes", "--force", "--force", dev, check=False)
    sh("vgcreate", vg, dev)
    cleanup(sh, "vgremove", "--yes", "--force", vg, check=False)
    sh("lvcreate", "--yes", "--size", "8M", "--name", "lv0", vg)
    settle()

    lv = "/dev/mapper/%s-lv0" % vg
    assert stat.S_ISBLK(os.stat(lv).st_mode)
    assert os.path.realpath("/dev/%s/lv0" % vg) == os.path.realpath(lv)
    attr = out("lvs", "--noheadings", "-o", "lv_attr", "%s/lv0" % vg)
    assert attr.strip()[4] == "a", attr
    assert int(out("blockdev", "--getsize64", lv)) == 8 * MIB

    data = pattern("lvm-lv0")
    write_at(lv, 0, data)
    assert read_at(lv, 0, len(data)) == data
    # The first extent starts after the PV metadata area (pe_start).
    pe_start = int(out("pvs", "--noheadings", "--units", "b", "--nosuffix",
                       "-o", "pe_start", dev))
    assert read_at(dev, pe_start, len(data)) == data

    sh("vgchange", "--activate", "n", vg)
    settle()
    attr = out("lvs", "--noheadings", "-o", "lv_attr", "%s/lv0" % vg)
    assert attr.strip()[4] != "a", attr
    assert not os.path.exists(lv)


def test_loop_partition_nodes(loop):
    dev = loop("parts", partscan=True)
    # sfdisk (util-linux) rather than sgdisk: one package fewer to install.
    sh("sfdisk", "--quiet", "--label", "gpt", dev,
       input=b"size=8MiB\n,\n")
    # sfdisk asks the kernel to re-read; partx covers the case it could not.
    sh("partx", "--update", dev, check=False)
    settle()
    for number in (1, 2):
        node = "%sp%d" % (dev, number)
        deadline = time.monotonic() + 10
        while not os.path.exists(node) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stat.S_ISBLK(os.stat(node).st_mode), node
    assert int(out("blockdev", "--getsize64", dev + "p1")) == 8 * MIB


def test_virtio_disks_by_serial():
    serials = runner.vm_disks()
    if not serials:
        pytest.fail("the runner was given no --disk")
    for serial in serials:
        link = Path("/dev/disk/by-id/virtio-" + serial)
        assert link.exists(), "udev gave no %s" % link
        dev = runner.disk_by_serial(serial)
        assert dev is not None and dev == str(link.resolve())
        name = os.path.basename(dev)
        assert Path("/sys/block", name, "serial").read_text().strip() \
            == serial
        assert stat.S_ISBLK(os.stat(dev).st_mode)
        assert int(Path("/sys/block", name, "size").read_text()) > 0

        # Sector 0 must be writable: that is why the runner attaches disks
        # as explicit format=raw drives rather than through vng --disk.
        original = read_at(dev, 0, 4096)
        data = pattern("virtio-" + serial)
        try:
            write_at(dev, 0, data)
            assert read_at(dev, 0, len(data)) == data
        finally:
            write_at(dev, 0, original)
