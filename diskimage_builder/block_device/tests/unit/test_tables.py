"""Unit tests of the partition-table byte builders (no I/O, no root).

Expected bytes were decoded by hand and match what sfdisk (util-linux
2.38) wrote for the same layouts; the golden digests are re-checked
against sfdisk by tests/host/test_tables_vs_sfdisk.py.
"""
import hashlib
import operator
import struct
import uuid

import testtools

from diskimage_builder.block_device.disklabel import tables
from diskimage_builder.block_device.disklabel.tables import GptEntry
from diskimage_builder.block_device.disklabel.tables import MbrEntry
from diskimage_builder.block_device.tests.support.golden import BIOS_BOOT
from diskimage_builder.block_device.tests.support.golden import DISK_GUID
from diskimage_builder.block_device.tests.support.golden import \
    GOLDEN_GPT_SHA256
from diskimage_builder.block_device.tests.support.golden import \
    GOLDEN_MBR_SHA256
from diskimage_builder.block_device.tests.support.golden import LINUX_FS
from diskimage_builder.block_device.tests.support.golden import golden_gpt
from diskimage_builder.block_device.tests.support.golden import golden_mbr

MIB64 = 131072  # sectors of 512 bytes
GIB20 = 41943040
GIB80_4K = 20971520  # sectors of 4096 bytes


def crc32_reference(data):
    """Bitwise CRC-32 (IEEE, reflected), independent of zlib."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def as_dict(writes):
    return dict(writes)


def mbr_record(sector, slot):
    offset = 446 + 16 * slot
    return sector[offset:offset + 16]


def h(text):
    return bytes.fromhex(text.replace(' ', ''))


class TestChs(testtools.TestCase):

    def test_known_values(self):
        for lba, expected in [
                (0, '000100'),       # C0 H0 S1
                (1, '000200'),
                (62, '003f00'),      # last sector of track 0
                (63, '010100'),
                (2048, '202100'),    # H32 S33
                (16065, '000101'),   # first sector of cylinder 1
                (102047, '593306'),  # C6 H89 S51
                (255 * 63 * 256, '004100'),         # C256: bits 8-9 used
                (1023 * 16065, '00c1ff'),           # C1023 H0 S1, exact
                (1024 * 16065 - 1, 'feffff'),       # last addressable
        ]:
            self.assertEqual(h(expected), tables.lba_to_chs(lba), lba)

    def test_capped_beyond_cylinder_1023(self):
        for lba in (1024 * 16065, 16536542, 2 ** 32 - 1, 2 ** 40):
            self.assertEqual(h('feffff'), tables.lba_to_chs(lba))

    def test_negative(self):
        self.assertRaises(ValueError, tables.lba_to_chs, -1)


class TestMbrPrimaries(testtools.TestCase):

    def build(self):
        entries = [MbrEntry(1, 2048, 100000, 0x83, bootable=True),
                   MbrEntry(2, 102048, 16434495, 0x82),
                   MbrEntry(3, 16536543, 1000000, 0x8e)]
        return tables.build_mbr(GIB20, 512, entries, 0xDEADBEEF)

    def test_single_sector_write(self):
        writes = self.build()
        self.assertEqual([0], [offset for offset, _ in writes])
        self.assertEqual(512, len(writes[0][1]))

    def test_entry_fields(self):
        sector = self.build()[0][1]
        # boot, CHS start, type, CHS end, LBA, size
        self.assertEqual(h('80 202100 83 593306 00080000 a0860100'),
                         mbr_record(sector, 0))
        # ends past cylinder 1023: end CHS capped
        self.assertEqual(h('00 593406 82 feffff a08e0100 3fc5fa00'),
                         mbr_record(sector, 1))
        # wholly past cylinder 1023: both CHS capped
        self.assertEqual(h('00 feffff 8e feffff df53fc00 40420f00'),
                         mbr_record(sector, 2))
        self.assertEqual(bytes(16), mbr_record(sector, 3))

    def test_signature_disk_id_and_boot_code(self):
        sector = self.build()[0][1]
        self.assertEqual(h('efbeadde'), sector[440:444])
        self.assertEqual(bytes(2), sector[444:446])
        self.assertEqual(bytes(440), sector[:440])
        self.assertEqual(b'\x55\xaa', sector[510:512])

    def test_number_picks_slot(self):
        writes = tables.build_mbr(MIB64, 512, [MbrEntry(3, 2048, 10, 0x83)],
                                  1)
        sector = writes[0][1]
        self.assertEqual(bytes(32), sector[446:478])
        self.assertEqual(0x83, mbr_record(sector, 2)[4])

    def test_partuuid(self):
        self.assertEqual('deadbeef-01', tables.mbr_partuuid(0xDEADBEEF, 1))
        self.assertEqual('00000042-0a', tables.mbr_partuuid(0x42, 10))
        self.assertRaises(ValueError, tables.mbr_partuuid, 2 ** 32, 1)
        self.assertRaises(ValueError, tables.mbr_partuuid, 1, 0)


class TestMbrLogicals(testtools.TestCase):
    """The layout of an sfdisk-made 64 MiB disk with partitions 1, 5-7."""

    def build(self, **kwargs):
        entries = [MbrEntry(1, 2048, 10000, 0x83),
                   MbrEntry(5, 22528, 10000, 0x83, ebr_lba=20480),
                   MbrEntry(6, 34816, 10000, 0x82, ebr_lba=32768),
                   MbrEntry(7, 47104, 10000, 0x8e, ebr_lba=45056)]
        return tables.build_mbr(MIB64, 512, entries, 0x12345678, **kwargs)

    def test_writes_mbr_and_one_ebr_per_logical(self):
        writes = self.build()
        self.assertEqual([0, 20480 * 512, 32768 * 512, 45056 * 512],
                         [offset for offset, _ in writes])
        self.assertEqual([512] * 4, [len(data) for _, data in writes])

    def test_extended_partition(self):
        sector = self.build()[0][1]
        # slot 2 (partition 2): from the first EBR to the end of
        # partition 7 (57103), type 0x05
        self.assertEqual(h('00 460601 05 8d1a03 00500000 108f0000'),
                         mbr_record(sector, 1))
        self.assertEqual(bytes(32), sector[478:510])

    def test_ebr_chain(self):
        ebrs = [data for _, data in self.build()[1:]]
        expected = [
            # partition 5, 2048 after its EBR; link to EBR 2 at +12288
            # from the extended start, 2048 + 10000 sectors
            (h('00 662601 83 061402 00080000 10270000'),
             h('00 0a0902 05 c91702 00300000 102f0000')),
            (h('00 2a2902 82 c91702 00080000 10270000'),
             h('00 cd0c02 05 8d1a03 00600000 102f0000')),
            # the last EBR links nowhere
            (h('00 ed2c02 8e 8d1a03 00080000 10270000'), bytes(16)),
        ]
        for ebr, (own, link) in zip(ebrs, expected):
            self.assertEqual(own, mbr_record(ebr, 0))
            self.assertEqual(link, mbr_record(ebr, 1))
            self.assertEqual(bytes(32), ebr[478:510])
            self.assertEqual(bytes(446), ebr[:446])  # no disk id in an EBR
            self.assertEqual(b'\x55\xaa', ebr[510:])

    def test_extended_goes_after_highest_primary(self):
        entries = [MbrEntry(2, 2048, 100, 0x83),
                   MbrEntry(5, 4096, 100, 0x83, ebr_lba=4095)]
        sector = tables.build_mbr(MIB64, 512, entries, 0)[0][1]
        self.assertEqual(0x05, mbr_record(sector, 2)[4])
        self.assertEqual(bytes(16), mbr_record(sector, 0))

    def test_extended_falls_back_to_a_lower_free_slot(self):
        entries = [MbrEntry(4, 2048, 100, 0x83),
                   MbrEntry(5, 4096, 100, 0x83, ebr_lba=4095)]
        sector = tables.build_mbr(MIB64, 512, entries, 0)[0][1]
        self.assertEqual(0x05, mbr_record(sector, 0)[4])

    def test_bootable_logical(self):
        entries = [MbrEntry(5, 4096, 100, 0x83, bootable=True,
                            ebr_lba=2048)]
        writes = tables.build_mbr(MIB64, 512, entries, 0)
        self.assertEqual(0x80, mbr_record(writes[1][1], 0)[0])
        self.assertEqual(0x00, mbr_record(writes[0][1], 0)[0])


class TestMbr4096(testtools.TestCase):
    """Bytes fdisk -b 4096 wrote for the same layout."""

    def test_sector_size(self):
        entries = [MbrEntry(1, 256, 10000, 0x83, bootable=True),
                   MbrEntry(5, 20736, 10000, 0x83, ebr_lba=20480),
                   MbrEntry(6, 4194304, 10000, 0x82, ebr_lba=4194048)]
        writes = tables.build_mbr(16777216, 4096, entries, 0x12345678)
        self.assertEqual([0, 20480 * 4096, 4194048 * 4096],
                         [offset for offset, _ in writes])
        self.assertEqual([4096] * 3, [len(data) for _, data in writes])
        mbr, ebr5, ebr6 = (data for _, data in writes)
        self.assertEqual(h('80 040500 83 a23200 00010000 10270000'),
                         mbr_record(mbr, 0))
        self.assertEqual(b'\x55\xaa', mbr[510:512])
        self.assertEqual(bytes(4096 - 512), mbr[512:])
        self.assertEqual(h('00 4a0a01 83 e83701 00010000 10270000'),
                         mbr_record(ebr5, 0))
        self.assertEqual(h('00 155105 82 b37e05 00010000 10270000'),
                         mbr_record(ebr6, 0))


class TestMbrErrors(testtools.TestCase):

    def assertInvalid(self, entries, disk_sectors=MIB64, sector_size=512,
                      disk_id=0):
        return self.assertRaises(ValueError, tables.build_mbr, disk_sectors,
                                 sector_size, entries, disk_id)

    def test_no_slot_for_extended(self):
        entries = [MbrEntry(n, 2048 * n, 100, 0x83) for n in (1, 2, 3, 4)]
        entries.append(MbrEntry(5, 20000, 100, 0x83, ebr_lba=19999))
        error = self.assertInvalid(entries)
        self.assertIn('extended', str(error))

    def test_bad_numbers(self):
        self.assertInvalid([MbrEntry(0, 2048, 10, 0x83)])
        self.assertInvalid([MbrEntry(1, 2048, 10, 0x83),
                            MbrEntry(1, 4096, 10, 0x83)])
        # logical partitions are numbered by chain position: no gaps
        self.assertInvalid([MbrEntry(6, 4096, 10, 0x83, ebr_lba=4095)])
        self.assertInvalid([MbrEntry(5, 4096, 10, 0x83, ebr_lba=4095),
                            MbrEntry(7, 8192, 10, 0x83, ebr_lba=8191)])

    def test_logicals_out_of_disk_order(self):
        self.assertInvalid([MbrEntry(5, 8192, 10, 0x83, ebr_lba=8191),
                            MbrEntry(6, 4096, 10, 0x83, ebr_lba=4095)])

    def test_ebr_lba(self):
        error = self.assertInvalid([MbrEntry(5, 4096, 10, 0x83)])
        self.assertIn('ebr_lba', str(error))
        self.assertInvalid([MbrEntry(1, 4096, 10, 0x83, ebr_lba=4095)])
        self.assertInvalid([MbrEntry(5, 4096, 10, 0x83, ebr_lba=4096)])
        self.assertInvalid([MbrEntry(5, 4096, 10, 0x83, ebr_lba=5000)])
        # an EBR on the MBR sector
        self.assertInvalid([MbrEntry(5, 4096, 10, 0x83, ebr_lba=0)])

    def test_overlaps(self):
        self.assertInvalid([MbrEntry(1, 2048, 100, 0x83),
                            MbrEntry(2, 2147, 100, 0x83)])
        # a partition on the MBR sector
        self.assertInvalid([MbrEntry(1, 0, 100, 0x83)])
        # a primary inside the extended partition
        self.assertInvalid([MbrEntry(1, 5000, 10, 0x83),
                            MbrEntry(5, 4096, 2000, 0x83, ebr_lba=4095)])
        # an EBR inside the previous logical partition
        self.assertInvalid([MbrEntry(5, 4096, 2000, 0x83, ebr_lba=4095),
                            MbrEntry(6, 7000, 10, 0x83, ebr_lba=6000)])

    def test_past_disk_end(self):
        error = self.assertInvalid([MbrEntry(1, 2048, MIB64 - 2047, 0x83)])
        self.assertIn('past the end', str(error))
        # the last sector itself is fine
        tables.build_mbr(MIB64, 512, [MbrEntry(1, 2048, MIB64 - 2048, 0x83)],
                         0)

    def test_lba_beyond_32_bits(self):
        big = 2 ** 34
        self.assertInvalid([MbrEntry(1, 2 ** 32, 10, 0x83)], big)
        self.assertInvalid([MbrEntry(1, 2048, 2 ** 32, 0x83)], big)
        self.assertInvalid([MbrEntry(5, 2 ** 32 + 10, 10, 0x83,
                                     ebr_lba=2 ** 32 + 9)], big)
        # the largest 32-bit extent is fine
        tables.build_mbr(big, 512, [MbrEntry(1, 1, 2 ** 32 - 1, 0x83)], 0)

    def test_bad_values(self):
        self.assertInvalid([MbrEntry(1, 2048, 0, 0x83)])
        self.assertInvalid([MbrEntry(1, -1, 10, 0x83)])
        self.assertInvalid([MbrEntry(1, 2048, 10, 0x00)])
        self.assertInvalid([MbrEntry(1, 2048, 10, 0x100)])
        self.assertInvalid([], disk_id=2 ** 32)
        self.assertInvalid([], disk_id=-1)
        self.assertInvalid([], sector_size=520)
        self.assertInvalid([], disk_sectors=0)


class TestGptLayout(testtools.TestCase):

    def test_512(self):
        geometry = tables.gpt_layout(MIB64, 512)
        self.assertEqual(
            tables.GptGeometry(
                disk_sectors=MIB64, sector_size=512, entries_count=128,
                entries_sectors=32, primary_header_lba=1,
                primary_entries_lba=2, first_usable_lba=34,
                last_usable_lba=MIB64 - 34, backup_entries_lba=MIB64 - 33,
                backup_header_lba=MIB64 - 1),
            geometry)

    def test_4096(self):
        geometry = tables.gpt_layout(16384, 4096)
        self.assertEqual(4, geometry.entries_sectors)
        self.assertEqual(6, geometry.first_usable_lba)
        self.assertEqual(16384 - 6, geometry.last_usable_lba)
        self.assertEqual(16384 - 5, geometry.backup_entries_lba)
        self.assertEqual(16383, geometry.backup_header_lba)

    def test_entries_count_rounds_up_to_whole_sectors(self):
        geometry = tables.gpt_layout(100, 512, entries_count=5)
        self.assertEqual(2, geometry.entries_sectors)
        self.assertEqual(4, geometry.first_usable_lba)
        self.assertEqual(96, geometry.last_usable_lba)

    def test_errors(self):
        self.assertRaises(ValueError, tables.gpt_layout, 67, 512)
        tables.gpt_layout(68, 512)  # room for exactly one usable sector
        self.assertRaises(ValueError, tables.gpt_layout, MIB64, 4000)
        self.assertRaises(ValueError, tables.gpt_layout, MIB64, 512, 0)


class TestGpt(testtools.TestCase):

    def setUp(self):
        super().setUp()
        disk_sectors, sector_size, entries, disk_guid = golden_gpt()
        self.writes = tables.build_gpt(disk_sectors, sector_size, entries,
                                       disk_guid)
        self.by_offset = as_dict(self.writes)

    def test_write_regions(self):
        self.assertEqual(
            [(0, 512), (512, 512), (1024, 16384),
             ((MIB64 - 33) * 512, 16384), ((MIB64 - 1) * 512, 512)],
            [(offset, len(data)) for offset, data in self.writes])

    def test_protective_mbr(self):
        pmbr = self.by_offset[0]
        self.assertEqual(h('00 000200 ee ffffff 01000000 ffff0100'),
                         mbr_record(pmbr, 0))
        self.assertEqual(bytes(446), pmbr[:446])
        self.assertEqual(bytes(48), pmbr[462:510])
        self.assertEqual(b'\x55\xaa', pmbr[510:])

    def test_protective_mbr_size_capped_at_32_bits(self):
        writes = tables.build_gpt(2 ** 33, 512, [], DISK_GUID)
        self.assertEqual(h('00 000200 ee ffffff 01000000 ffffffff'),
                         mbr_record(writes[0][1], 0))

    def test_primary_header(self):
        header = self.by_offset[512]
        self.assertEqual(h(
            '4546492050415254 00000100 5c000000 8a5f5404 00000000'
            '0100000000000000 ffff010000000000'    # my / alternate LBA
            '2200000000000000 deff010000000000'    # first / last usable
            '67452301ab89efcd0123456789abcdef'     # disk GUID, mixed endian
            '0200000000000000 80000000 80000000 c29c44bc'), header[:92])
        self.assertEqual(bytes(512 - 92), header[92:])

    def test_backup_header(self):
        header = self.by_offset[(MIB64 - 1) * 512]
        fields = struct.unpack_from('<QQQQ', header, 24)
        self.assertEqual((MIB64 - 1, 1, 34, MIB64 - 34), fields)
        self.assertEqual(MIB64 - 33, struct.unpack_from('<Q', header, 72)[0])
        self.assertEqual(0x8a58934f, struct.unpack_from('<I', header, 16)[0])
        self.assertEqual(self.by_offset[512][40:72], header[40:72])
        self.assertEqual(self.by_offset[512][84:92], header[84:92])

    def test_crcs_verified_independently(self):
        array = self.by_offset[1024]
        self.assertEqual(self.by_offset[(MIB64 - 33) * 512], array)
        for offset in (512, (MIB64 - 1) * 512):
            header = self.by_offset[offset]
            self.assertEqual(crc32_reference(array),
                             struct.unpack_from('<I', header, 88)[0])
            zeroed = header[:16] + bytes(4) + header[20:92]
            self.assertEqual(crc32_reference(zeroed),
                             struct.unpack_from('<I', header, 16)[0])

    def test_entry_fields(self):
        array = self.by_offset[1024]
        self.assertEqual(
            h('4861682149646f6e744e656564454649'    # BIOS boot type
              '11111111222233334444555555555555'    # partition GUID
              '0008000000000000 ff0f000000000000'   # first / last LBA
              '0000000000000000'                    # attributes
              '620069006f007300') + bytes(64),      # "bios"
            array[:128])
        self.assertEqual(4, struct.unpack_from('<Q', array, 128 + 48)[0])
        self.assertEqual(bytes(72), array[256 + 56:384])  # no name
        self.assertEqual(bytes(125 * 128), array[384:])

    def test_name_encoding(self):
        def entry_bytes(name):
            entry = GptEntry(1, 34, 100, LINUX_FS, DISK_GUID, name)
            array = tables.build_gpt(MIB64, 512, [entry], DISK_GUID)[2][1]
            return array[56:128]
        self.assertEqual('rööt 数据'.encode('utf-16-le').ljust(72, b'\0'),
                         entry_bytes('rööt 数据'))
        self.assertEqual(('x' * 36).encode('utf-16-le'),
                         entry_bytes('x' * 36))
        # a character outside the BMP takes two code units
        self.assertEqual(h('3dd800de'), entry_bytes('\U0001f600')[:4])
        entry_bytes('x' * 34 + '\U0001f600')

    def test_4096_sectors(self):
        entries = [GptEntry(1, 6, 255, BIOS_BOOT, DISK_GUID),
                   GptEntry(2, 256, 16378, LINUX_FS, DISK_GUID)]
        writes = tables.build_gpt(16384, 4096, entries, DISK_GUID)
        self.assertEqual(
            [(0, 4096), (4096, 4096), (8192, 16384),
             (16379 * 4096, 16384), (16383 * 4096, 4096)],
            [(offset, len(data)) for offset, data in writes])
        pmbr, primary = writes[0][1], writes[1][1]
        self.assertEqual(h('00 000200 ee ffffff 01000000 ff3f0000'),
                         mbr_record(pmbr, 0))
        self.assertEqual(bytes(4096 - 512), pmbr[512:])
        self.assertEqual((1, 16383, 6, 16378),
                         struct.unpack_from('<QQQQ', primary, 24))
        self.assertEqual(2, struct.unpack_from('<Q', primary, 72)[0])
        self.assertEqual(bytes(4096 - 92), primary[92:])

    def test_golden_digest(self):
        digest = hashlib.sha256(b''.join(d for _, d in self.writes))
        self.assertEqual(GOLDEN_GPT_SHA256, digest.hexdigest())


class TestGoldenMbr(testtools.TestCase):

    def test_golden_digest(self):
        writes = tables.build_mbr(*golden_mbr())
        digest = hashlib.sha256(b''.join(d for _, d in writes))
        self.assertEqual(GOLDEN_MBR_SHA256, digest.hexdigest())


class TestGptErrors(testtools.TestCase):

    def assertInvalid(self, *entries):
        return self.assertRaises(ValueError, tables.build_gpt, MIB64, 512,
                                 list(entries), DISK_GUID)

    def entry(self, number=1, first=2048, last=4095, **kwargs):
        kwargs.setdefault('type_guid', LINUX_FS)
        kwargs.setdefault('part_guid', DISK_GUID)
        return GptEntry(number, first, last, **kwargs)

    def test_overlap(self):
        error = self.assertInvalid(self.entry(1, 2048, 4095),
                                   self.entry(2, 4095, 5000))
        self.assertIn('overlaps', str(error))

    def test_outside_usable_range(self):
        self.assertInvalid(self.entry(first=33, last=100))
        self.assertInvalid(self.entry(first=MIB64 - 100, last=MIB64 - 33))
        tables.build_gpt(MIB64, 512, [self.entry(first=34, last=MIB64 - 34)],
                         DISK_GUID)

    def test_first_after_last(self):
        self.assertInvalid(self.entry(first=5000, last=4999))

    def test_numbers(self):
        self.assertInvalid(self.entry(1, 2048, 2100),
                           self.entry(1, 4096, 4100))
        self.assertInvalid(self.entry(0))
        self.assertInvalid(self.entry(129))
        tables.build_gpt(MIB64, 512, [self.entry(128)], DISK_GUID)

    def test_names(self):
        error = self.assertInvalid(self.entry(name='x' * 37))
        self.assertIn('36', str(error))
        self.assertInvalid(self.entry(name='x' * 35 + '\U0001f600'))
        self.assertInvalid(self.entry(name='a\x00b'))

    def test_nil_type_and_attributes(self):
        self.assertInvalid(self.entry(type_guid=uuid.UUID(int=0)))
        self.assertInvalid(self.entry(attributes=2 ** 64))
        self.assertInvalid(self.entry(attributes=-1))


class TestGptTypeGuid(testtools.TestCase):

    def test_codes(self):
        for code, guid in [
                ('EF00', 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'),
                ('EF02', '21686148-6449-6E6F-744E-656564454649'),
                ('8300', '0FC63DAF-8483-4772-8E79-3D69D8477DE4'),
                ('8200', '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F'),
                ('8E00', 'E6D6D379-F507-44C2-A23C-238F2A3DF928'),
                ('FD00', 'A19D880F-05FC-4D3B-A006-743F0F84911E'),
                ('4100', '9E1A2D38-C612-4316-AA26-8B49521E5A8B'),
                ('8302', '933AC7E1-2EB4-4F13-B844-0E14E2AEF915'),
                ('8304', '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709'),
                ('0700', 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7'),
                ('8309', 'CA7D7CCB-63ED-4C53-861C-1742536059CC'),
                ('EF01', '024DEE41-33E7-11D3-9D69-0008C781F39F'),
                ('A504', '516E7CBA-6ECF-11D6-8FF8-00022D09712B')]:
            self.assertEqual(uuid.UUID(guid), tables.gpt_type_guid(code))

    def test_spellings(self):
        esp = uuid.UUID('C12A7328-F81F-11D2-BA4B-00A0C93EC93B')
        for code in ('EF00', 'ef00', '0xEF00', '0Xef00', ' ef00 '):
            self.assertEqual(esp, tables.gpt_type_guid(code), code)

    def test_guid_strings(self):
        guid = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b'
        self.assertEqual(uuid.UUID(guid), tables.gpt_type_guid(guid))
        self.assertEqual(uuid.UUID(guid), tables.gpt_type_guid(guid.upper()))
        # any well-formed GUID, known or not
        other = '12345678-1234-1234-1234-123456789abc'
        self.assertEqual(uuid.UUID(other), tables.gpt_type_guid(other))

    def test_unknown(self):
        error = self.assertRaises(ValueError, tables.gpt_type_guid, 'BEEF')
        self.assertIn("'BEEF'", str(error))
        self.assertIn('EF00', str(error))
        self.assertIn('GUID', str(error))
        for bad in ('', 'EF0', 'EF000', '0x', 'linux', 'c12a7328f81f11d2',
                    '{c12a7328-f81f-11d2-ba4b-00a0c93ec93b}', None):
            self.assertRaises(ValueError, tables.gpt_type_guid, bad)

    def test_table_is_read_only_and_canonical(self):
        for code in tables.GPT_TYPE_CODES:
            self.assertRegex(code, '^[0-9A-F]{4}$')
        self.assertRaises(TypeError, operator.setitem,
                          tables.GPT_TYPE_CODES, 'FFFF', uuid.uuid4())
