"""Partition tables whose bytes were checked by hand and against sfdisk
(util-linux 2.38): the unit tier compares the builders' bytes with their
digests, the host tier has sfdisk write the same layouts."""
import uuid

from diskimage_builder.block_device.disklabel import tables
from diskimage_builder.block_device.disklabel.tables import GptEntry
from diskimage_builder.block_device.disklabel.tables import MbrEntry

MIB64 = 131072  # sectors of 512 bytes
GIB20 = 41943040

BIOS_BOOT = uuid.UUID('21686148-6449-6E6F-744E-656564454649')
LINUX_FS = uuid.UUID('0FC63DAF-8483-4772-8E79-3D69D8477DE4')
SWAP = uuid.UUID('0657FD6D-A4AB-43C4-84E5-0933C84B4F4F')
DISK_GUID = uuid.UUID('01234567-89AB-CDEF-0123-456789ABCDEF')


def golden_gpt():
    """64 MiB, 512-byte sectors, 3 partitions: (disk_sectors, ss, entries,
    disk_guid)."""
    entries = [
        GptEntry(1, 2048, 4095, BIOS_BOOT,
                 uuid.UUID('11111111-2222-3333-4444-555555555555'), 'bios'),
        GptEntry(2, 4096, 104095, LINUX_FS,
                 uuid.UUID('21111111-2222-3333-4444-555555555555'), 'root',
                 tables.GPT_ATTR_LEGACY_BIOS_BOOTABLE),
        GptEntry(3, 104096, 105095, SWAP,
                 uuid.UUID('31111111-2222-3333-4444-555555555555')),
    ]
    return MIB64, 512, entries, DISK_GUID


GOLDEN_GPT_SHA256 = (
    'fa3b0a225b1f4371de3508bedb567729985d4acd5399e256bd563dda8e2d9e68')


def golden_mbr():
    """20 GiB, two primaries, three logicals straddling the CHS limit:
    (disk_sectors, ss, entries, disk_id)."""
    entries = [
        MbrEntry(1, 2048, 204800, 0x83, bootable=True),
        MbrEntry(2, 22749184, 1048576, 0x0c),
        MbrEntry(5, 208896, 8388608, 0x83, ebr_lba=206848),
        MbrEntry(6, 16451584, 2097152, 0x82, ebr_lba=16449536),
        MbrEntry(7, 18552832, 4194304, 0x8e, bootable=True,
                 ebr_lba=18550784),
    ]
    return GIB20, 512, entries, 0xC0FFEE42


GOLDEN_MBR_SHA256 = (
    '211e56e919e512b3e4a0543fd0bdb8c151f7f7fde1838e9464130e6995ddc2ea')
