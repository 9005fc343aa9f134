"""What a partition table cannot hold, as sentences (pure: the
partitioning plugin names the YAML path)."""
from diskimage_builder.block_device.disklabel import mbr_type
from diskimage_builder.block_device.disklabel import tables
from diskimage_builder.block_device.disklabel.gpt import GPT_NAME_UNITS

MBR_PROTECTIVE = 0xEE
# The highest partition number Linux registers.  block/partitions/
# msdos.c's parse_extended() walks the EBR chain until state->limit, and
# block/partitions/core.c sets that to DISK_MAX_PARTS (256), as
# add_partition() refuses partno >= DISK_MAX_PARTS for BLKPG (partx): so
# logical partitions 5 to 255.  (Its other bound, "if (++loopct > 100)",
# counts links without a data partition and is reset at each one found:
# it never stops a chain that has a partition in every EBR, as ours has.)
# Checked on this project's kernel 6.18 with partx: p255 is the last.
MBR_MAX_NUMBER = 255


def type_problem(label, options):
    """What is wrong with a partition's ``type`` on a *label* table."""
    code = options.get('type')
    if code is None:
        return None
    try:
        if label == 'gpt':
            value = tables.gpt_type_guid(code).int
        else:
            value = mbr_type(options)
            if not 0 < value < 256:
                raise ValueError
    except ValueError:
        return 'expected %s, got %r' % (
            "an MBR type byte such as '83' or '0x41'" if label == 'mbr'
            else "a GPT type code such as 'EF00' or a type GUID", code)
    if label == 'gpt' and value == 0:
        # An all-zero type marks an unused entry: the partition would
        # silently vanish.
        return 'the nil GUID marks an unused GPT entry, not a partition type'
    if label == 'mbr' and value in tables.MBR_EXTENDED_TYPES:
        # Linux (block/partitions/msdos.c) reads the first sector of a
        # partition of these types as an EBR.
        return ('type 0x%02x marks an extended partition, which holds no '
                'data; the extended partition is made for the logical ones'
                % value)
    if label == 'mbr' and value == MBR_PROTECTIVE:
        # msdos.c (with CONFIG_EFI_PARTITION) ignores a whole MBR with an
        # 0xee entry, taking the disk for a GPT one.
        return ('type 0xee is the GPT protective MBR entry: Linux would '
                'ignore every partition of this table')
    return None


def number_problem(label, number):
    if label == 'gpt' and number > tables.GPT_ENTRIES_COUNT:
        return 'GPT holds at most %d partitions' % tables.GPT_ENTRIES_COUNT
    if label == 'mbr' and number > MBR_MAX_NUMBER:
        return ('this would be partition %d; Linux registers MBR partitions '
                'numbered up to %d, so at most %d logical ones'
                % (number, MBR_MAX_NUMBER, MBR_MAX_NUMBER - 4))
    return None


def gpt_name_problem(name, default):
    """What is wrong with GPT partition name *name* (*default*: it is the
    node name, not a part-name)."""
    units = len(name.encode('utf-16-le')) // 2
    if '\x00' not in name and units <= GPT_NAME_UNITS:
        return None
    return 'the GPT partition name %r %s%s' % (
        name, 'holds a NUL' if '\x00' in name else
        'is %d UTF-16 code units (characters outside the BMP take two); a '
        'GPT entry holds %d' % (units, GPT_NAME_UNITS),
        ': set a shorter part-name' if default else '')
