"""Partition tables as pure code: where partitions go (:mod:`.layout`),
the bytes of the MBR or GPT that says so (:mod:`.tables`), and the
translation of a table's config and layout into those bytes
(:func:`table_writes`).  No I/O: the partitioning plugin writes them."""
import uuid

from diskimage_builder.block_device.disklabel import layout
from diskimage_builder.block_device.disklabel import tables

GPT_ATTRIBUTE_NAMES = {'required': 0, 'no-block-io': 1, 'legacy-boot': 2}


def table_writes(label, name, options, planned, repro):
    """(writes, identifiers) of the table *name* configured by *options*
    and laid out in *planned* (details): the (offset, bytes) pairs to
    write, and the disk and partition ids chosen (from the config, else
    derived from *repro*'s seed, else random)."""
    sector = planned.sector_size
    sectors = planned.details['disk_size'] // sector
    parts = [layout.Placed(**p) for p in planned.details['partitions']]
    configured = options['partitions']
    if label == 'gpt':
        disk_guid = uuid.UUID(options.get('disk-uuid') or
                              str(repro.uuid(name, 'disk')))
        entries = [_gpt_entry(p, o, repro) for p, o in zip(parts, configured)]
        writes = tables.build_gpt(sectors, sector, entries, disk_guid)
        return writes, {'disk_uuid': str(disk_guid), 'partuuids': {
            str(e.number): str(e.part_guid) for e in entries}}
    disk_id = int(options.get('disk-uuid') or
                  repro.uuid(name, 'disk').hex[:8], 16)
    entries = [tables.MbrEntry(p.number, p.first_lba, p.size_lba,
                               mbr_type(o), 'boot' in o.get('flags', []),
                               p.ebr_lba, p.link_last_lba)
               for p, o in zip(parts, configured)]
    writes = tables.build_mbr(sectors, sector, entries, disk_id,
                              planned.details.get('extended'))
    return writes, {'disk_uuid': '%08x' % disk_id, 'partuuids': {
        str(e.number): tables.mbr_partuuid(disk_id, e.number)
        for e in entries}}


def _gpt_entry(placed, options, repro):
    attributes = 0
    # flags: [boot] means nothing on GPT (diskimage-builder ignores it
    # there too); attributes: [legacy-boot] sets the BIOS bootable bit.
    for bit in options.get('attributes', []):
        attributes |= 1 << GPT_ATTRIBUTE_NAMES.get(bit, bit)
    return tables.GptEntry(
        number=placed.number, first_lba=placed.first_lba,
        last_lba=placed.last_lba,
        type_guid=tables.gpt_type_guid(options.get('type', '8300')),
        part_guid=uuid.UUID(options.get('part-uuid') or
                            str(repro.uuid(options['name'], 'partition'))),
        name=options.get('part-name', options['name']),
        attributes=attributes)


def mbr_type(options):
    """The MBR type byte of a partition's options (``'83'``, ``'0x41'``)."""
    text = options.get('type', '83').lower()
    return int(text[2:] if text.startswith('0x') else text, 16)
