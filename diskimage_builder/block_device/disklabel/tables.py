"""MBR and GPT partition tables as bytes: pure builders, no I/O.

Each builder checks a layout and returns the writes that put the table on
a disk, as ``(byte offset, data)`` pairs in offset order.  The bytes are
the ones util-linux's sfdisk writes for the same layout (CHS encoding,
EBR chain, protective MBR, header fields), so an image built here and one
built by sfdisk are interchangeable byte for byte; the host tier holds us
to that.  The builders live in :mod:`.mbr` and :mod:`.gpt`; this module
names them together.
"""
from diskimage_builder.block_device.disklabel.gpt import (  # noqa: F401
    GPT_ATTR_LEGACY_BIOS_BOOTABLE, GPT_ENTRIES_COUNT, GPT_ENTRY_SIZE,
    GPT_TYPE_CODES, GptEntry, GptGeometry, build_gpt, gpt_layout,
    gpt_type_guid)
from diskimage_builder.block_device.disklabel.mbr import (  # noqa: F401
    MBR_EXTENDED_TYPES, MbrEntry, build_mbr, lba_to_chs, mbr_partuuid,
    protective_mbr)
from diskimage_builder.block_device.disklabel.sectors import (  # noqa: F401
    SECTOR_SIZES)
