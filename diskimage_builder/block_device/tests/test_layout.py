"""Partition placement against tables computed by hand."""
from diskimage_builder.block_device.level1 import layout
from diskimage_builder.block_device.level1.layout import Placed
from diskimage_builder.block_device.level1.layout import Request
from diskimage_builder.block_device.tests.fakes import TestCase

MiB = 1 << 20
GiB = 1 << 30


class TestGpt(TestCase):

    def test_compat_gpt_default_2gib(self):
        # 4194304 sectors; usable 34..4194270; the 100% root ends on the
        # last 1MiB boundary inside the usable range.
        placed = layout.place('gpt', 2 * GiB, 512, MiB, [
            Request('BSP', 8 * MiB), Request('root', '100%')])
        self.assertEqual([Placed('BSP', 1, 2048, 16384),
                          Placed('root', 2, 18432, 4173824)], placed)

    def test_thirds_are_shares_of_what_is_left(self):
        # free at 2048 is 2095071 sectors: 33% -> 691373 -> 690176 aligned;
        # then 50% of 1404895 -> 702447 -> 700416; then 100% of 704479.
        placed = layout.place('gpt', GiB, 512, MiB, [
            Request('a', '33%'), Request('b', '50%'), Request('c', '100%')])
        self.assertEqual([(2048, 690176), (692224, 700416),
                          (1392640, 702464)],
                         [(p.first_lba, p.size_lba) for p in placed])

    def test_4k_sectors(self):
        placed = layout.place('gpt', 64 * MiB, 4096, MiB, [
            Request('a', 8 * MiB), Request('b', '100%')])
        # 16384 sectors: usable 6..16378 (backup header in 16383, its
        # array in 16379..16382); 1MiB = 256 sectors.
        self.assertEqual([Placed('a', 1, 256, 2048),
                          Placed('b', 2, 2304, 13824)], placed)
        self.assertEqual((6, 16378),
                         layout.usable_range('gpt', 16384, 4096))

    def test_bytes_round_up_to_sectors(self):
        placed = layout.place('gpt', 64 * MiB, 512, MiB, [
            Request('a', 1000), Request('b', 513)])
        self.assertEqual([Placed('a', 1, 2048, 2), Placed('b', 2, 4096, 2)],
                         placed)

    def test_other_alignment(self):
        placed = layout.place('gpt', 64 * MiB, 512, 4096, [
            Request('a', 8 * MiB), Request('b', 4 * MiB)])
        self.assertEqual([Placed('a', 1, 40, 16384),
                          Placed('b', 2, 16424, 8192)], placed)

    def test_does_not_fit_gives_numbers(self):
        err = self.assertRaises(layout.LayoutError, layout.place, 'gpt',
                                64 * MiB, 512, MiB,
                                [Request('a', 40 * MiB),
                                 Request('b', 40 * MiB)])
        self.assertEqual(1, err.index)
        self.assertEqual('partition b needs 40 MiB but only 22.98 MiB is '
                         'left (disk 64 MiB)', str(err))

    def test_nothing_left_for_percent(self):
        # 2049 sectors: a fills 1..2048, leaving nothing for b.
        err = self.assertRaises(layout.LayoutError, layout.place, 'mbr',
                                2049 * 512, 512, 512,
                                [Request('a', MiB, True),
                                 Request('b', '50%', True)])
        self.assertEqual('partition b: 50% of the 0 B left is empty '
                         '(disk 1 MiB)', str(err))

    def test_alignment_not_multiple_of_sector(self):
        self.assertRaises(layout.LayoutError, layout.place, 'gpt', 64 * MiB,
                          4096, 512, [Request('a', MiB)])


class TestMbr(TestCase):

    def test_primary_then_logicals(self):
        placed = layout.place('mbr', GiB, 512, MiB, [
            Request('boot', 8 * MiB, primary=True),
            Request('a', 100 * MiB), Request('b', '100%')])
        self.assertEqual([
            Placed('boot', 1, 2048, 16384),
            Placed('a', 5, 20480, 204800, ebr_lba=18432),
            Placed('b', 6, 227328, 1869824, ebr_lba=225280)], placed)

    def test_single_primary_uses_the_whole_disk(self):
        placed = layout.place('mbr', 2 * GiB, 512, MiB, [
            Request('root', '100%', primary=True)])
        self.assertEqual([Placed('root', 1, 2048, 4192256)], placed)

    def test_too_many_primaries(self):
        reqs = [Request(str(i), MiB, primary=True) for i in range(5)]
        err = self.assertRaises(layout.LayoutError, layout.place, 'mbr',
                                GiB, 512, MiB, reqs)
        self.assertIn('at most 4 primary', str(err))
        reqs = [Request(str(i), MiB, primary=True) for i in range(4)]
        err = self.assertRaises(layout.LayoutError, layout.place, 'mbr',
                                GiB, 512, MiB, reqs + [Request('l', MiB)])
        self.assertIn('asks for 5', str(err))

    def test_primary_after_logical(self):
        err = self.assertRaises(layout.LayoutError, layout.place, 'mbr',
                                GiB, 512, MiB, [
                                    Request('l', MiB),
                                    Request('p', MiB, primary=True)])
        self.assertEqual(1, err.index)
        self.assertIn('must come first', str(err))

    def test_mbr_limit_is_2tib(self):
        first, last = layout.usable_range('mbr', 8 * 2 ** 32, 512)
        self.assertEqual((1, 2 ** 32 - 1), (first, last))
