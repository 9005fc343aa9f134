"""Partition placement against tables computed by hand.

The ``dib`` rules' figures were also checked against diskimage-builder
3.43 itself (its MBR writer and the sgdisk calls it makes, on image
files): the host tier's test_dib_tables does that for many layouts.
"""
from diskimage_builder.block_device.disklabel import layout
from diskimage_builder.block_device.disklabel.layout import Extended
from diskimage_builder.block_device.disklabel.layout import Placed
from diskimage_builder.block_device.disklabel.layout import Request
from diskimage_builder.block_device.tests.support.fakes import TestCase

MiB = 1 << 20
GiB = 1 << 30


def place_exact(*args):
    return list(layout.place(*args, rules='exact').partitions)


def place_dib(*args):
    return layout.place(*args)


class TestDibGpt(TestCase):

    def test_compat_gpt_default_2gib(self):
        # 2046 MiB to share (2 MiB kept back): BSP 8 MiB at 1 MiB, root
        # the other 2038 MiB.
        placed = place_dib('gpt', 2 * GiB, 512, MiB, [
            Request('BSP', 8 * MiB), Request('root', '100%')])
        self.assertEqual((Placed('BSP', 1, 2048, 16384),
                          Placed('root', 2, 18432, 4173824)),
                         placed.partitions)
        self.assertIsNone(placed.extended)

    def test_image_not_whole_mib_leaves_the_rest(self):
        # disk-image-create rounds image sizes to 64 KiB: the share is
        # 2038 MiB + 64 KiB, and the partition gets whole MiB of it.
        placed = place_dib('gpt', 2 * GiB + 64 * 1024, 512, MiB, [
            Request('BSP', 8 * MiB), Request('root', '100%')])
        self.assertEqual(4173824, placed.partitions[1].size_lba)
        exact = place_exact('gpt', 2 * GiB + 64 * 1024, 512, MiB, [
            Request('BSP', 8 * MiB), Request('root', '100%')])
        self.assertEqual(4175872, exact[1].size_lba)

    def test_fixed_sizes_round_down_to_mib(self):
        # 40G is 40*10^9 bytes: 38146 MiB; 100M: 95 MiB.
        placed = place_dib('gpt', 64 * GiB, 512, MiB, [
            Request('a', 40 * 10 ** 9), Request('b', 100 * 10 ** 6)])
        self.assertEqual([(2048, 78123008), (78125056, 194560)],
                         [(p.first_lba, p.size_lba)
                          for p in placed.partitions])

    def test_thirds_shrink_the_share_by_the_exact_amount(self):
        # share 1022 MiB = 1071644672: a 33% = 353642741 B -> 337 MiB;
        # share 718001931: b 50% = 359000965 B -> 342 MiB; share
        # 359000966: c 100% -> 342 MiB.
        placed = place_dib('gpt', GiB, 512, MiB, [
            Request('a', '33%'), Request('b', '50%'), Request('c', '100%')])
        self.assertEqual([(2048, 690176), (692224, 700416),
                          (1392640, 700416)],
                         [(p.first_lba, p.size_lba)
                          for p in placed.partitions])

    def test_4k_sectors(self):
        # 1 MiB is 256 sectors: 8 MiB at 256, the other 54 MiB after.
        placed = place_dib('gpt', 64 * MiB, 4096, MiB, [
            Request('a', 8 * MiB), Request('b', '100%')])
        self.assertEqual((Placed('a', 1, 256, 2048),
                          Placed('b', 2, 2304, 13824)), placed.partitions)

    def test_under_one_mib_is_refused(self):
        err = self.assertRaises(layout.LayoutError, place_dib, 'gpt',
                                64 * MiB, 512, MiB,
                                [Request('a', 8 * MiB), Request('b', 1000)])
        self.assertEqual(1, err.index)
        self.assertIn('rounds down to none', str(err))

    def test_too_big_for_the_share(self):
        err = self.assertRaises(layout.LayoutError, place_dib, 'gpt',
                                64 * MiB, 512, MiB,
                                [Request('a', 40 * MiB),
                                 Request('b', 30 * MiB)])
        self.assertEqual(1, err.index)
        self.assertEqual('partition b needs 30 MiB but only 22 MiB is left '
                         '(disk 64 MiB, of which the last 2 MiB are kept '
                         'free)', str(err))


class TestDibMbr(TestCase):

    def test_single_primary_leaves_the_last_mib(self):
        placed = place_dib('mbr', 2 * GiB, 512, MiB, [
            Request('root', '100%', primary=True)])
        self.assertEqual((Placed('root', 1, 2048, 4190208),),
                         placed.partitions)
        self.assertIsNone(placed.extended)

    def test_primary_then_logicals(self):
        # b: 1 GiB - (225280 + 2048) * 512 = 957349888 B = 1869824
        # sectors from 227328: to the last sector of the disk.
        placed = place_dib('mbr', GiB, 512, MiB, [
            Request('boot', 8 * MiB, primary=True),
            Request('a', 100 * MiB), Request('b', '100%')])
        self.assertEqual((
            Placed('boot', 1, 2048, 16384),
            Placed('a', 5, 20480, 204800, ebr_lba=18432,
                   link_last_lba=225279),
            Placed('b', 6, 227328, 1869824, ebr_lba=225280,
                   link_last_lba=2097151)), placed.partitions)
        self.assertEqual(Extended(18432, 2097151, 0x0F), placed.extended)

    def test_percentages_of_the_rest_less_one_mib(self):
        # root: 54% of 1 GiB - 2 MiB = 578688122 B -> 1130250 sectors;
        # its end rounds up to 1132544, var's EBR; var: 40% of 1 GiB -
        # (1132544 + 2048) * 512 = 197132288 B -> 385024 sectors.
        placed = place_dib('mbr', GiB, 512, MiB, [
            Request('root', '54%', primary=True), Request('var', '40%')])
        self.assertEqual([(2048, 1130250), (1134592, 385024)],
                         [(p.first_lba, p.size_lba)
                          for p in placed.partitions])

    def test_4k_sectors_count_in_4k(self):
        placed = place_dib('mbr', 64 * MiB, 4096, MiB, [
            Request('root', '100%', primary=True)])
        # 64 MiB - (256 + 256) * 4096 B = 15872 sectors of 4096.
        self.assertEqual((Placed('root', 1, 256, 15872),),
                         placed.partitions)

    def test_past_the_end_is_refused(self):
        err = self.assertRaises(layout.LayoutError, place_dib, 'mbr',
                                64 * MiB, 512, MiB,
                                [Request('a', 40 * MiB, primary=True),
                                 Request('b', 40 * MiB, primary=True)])
        self.assertEqual(1, err.index)


class TestExactGpt(TestCase):

    def test_compat_gpt_default_2gib(self):
        # 4194304 sectors; usable 34..4194270; the 100% root ends on the
        # last 1MiB boundary inside the usable range.
        placed = place_exact('gpt', 2 * GiB, 512, MiB, [
            Request('BSP', 8 * MiB), Request('root', '100%')])
        self.assertEqual([Placed('BSP', 1, 2048, 16384),
                          Placed('root', 2, 18432, 4173824)], placed)

    def test_thirds_are_shares_of_what_is_left(self):
        # free at 2048 is 2095071 sectors: 33% -> 691373 -> 690176 aligned;
        # then 50% of 1404895 -> 702447 -> 700416; then 100% of 704479.
        placed = place_exact('gpt', GiB, 512, MiB, [
            Request('a', '33%'), Request('b', '50%'), Request('c', '100%')])
        self.assertEqual([(2048, 690176), (692224, 700416),
                          (1392640, 702464)],
                         [(p.first_lba, p.size_lba) for p in placed])

    def test_4k_sectors(self):
        placed = place_exact('gpt', 64 * MiB, 4096, MiB, [
            Request('a', 8 * MiB), Request('b', '100%')])
        # 16384 sectors: usable 6..16378 (backup header in 16383, its
        # array in 16379..16382); 1MiB = 256 sectors.
        self.assertEqual([Placed('a', 1, 256, 2048),
                          Placed('b', 2, 2304, 13824)], placed)
        self.assertEqual((6, 16378),
                         layout.usable_range('gpt', 16384, 4096))

    def test_bytes_round_up_to_sectors(self):
        placed = place_exact('gpt', 64 * MiB, 512, MiB, [
            Request('a', 1000), Request('b', 513)])
        self.assertEqual([Placed('a', 1, 2048, 2), Placed('b', 2, 4096, 2)],
                         placed)

    def test_other_alignment(self):
        placed = place_exact('gpt', 64 * MiB, 512, 4096, [
            Request('a', 8 * MiB), Request('b', 4 * MiB)])
        self.assertEqual([Placed('a', 1, 40, 16384),
                          Placed('b', 2, 16424, 8192)], placed)

    def test_does_not_fit_gives_numbers(self):
        err = self.assertRaises(layout.LayoutError, place_exact, 'gpt',
                                64 * MiB, 512, MiB,
                                [Request('a', 40 * MiB),
                                 Request('b', 40 * MiB)])
        self.assertEqual(1, err.index)
        self.assertEqual('partition b needs 40 MiB but only 22.98 MiB is '
                         'left (disk 64 MiB)', str(err))

    def test_nothing_left_for_percent(self):
        # 2049 sectors: a fills 1..2048, leaving nothing for b.
        err = self.assertRaises(layout.LayoutError, place_exact, 'mbr',
                                2049 * 512, 512, 512,
                                [Request('a', MiB, True),
                                 Request('b', '50%', True)])
        self.assertEqual('partition b: 50% of the 0 B left is empty '
                         '(disk 1 MiB)', str(err))

    def test_alignment_not_multiple_of_sector(self):
        self.assertRaises(layout.LayoutError, place_exact, 'gpt', 64 * MiB,
                          4096, 512, [Request('a', MiB)])


class TestExactMbr(TestCase):

    def test_primary_then_logicals(self):
        placed = place_exact('mbr', GiB, 512, MiB, [
            Request('boot', 8 * MiB, primary=True),
            Request('a', 100 * MiB), Request('b', '100%')])
        self.assertEqual([
            Placed('boot', 1, 2048, 16384),
            Placed('a', 5, 20480, 204800, ebr_lba=18432),
            Placed('b', 6, 227328, 1869824, ebr_lba=225280)], placed)

    def test_single_primary_uses_the_whole_disk(self):
        placed = place_exact('mbr', 2 * GiB, 512, MiB, [
            Request('root', '100%', primary=True)])
        self.assertEqual([Placed('root', 1, 2048, 4192256)], placed)

    def test_too_many_primaries(self):
        reqs = [Request(str(i), MiB, primary=True) for i in range(5)]
        err = self.assertRaises(layout.LayoutError, place_exact, 'mbr',
                                GiB, 512, MiB, reqs)
        self.assertIn('at most 4 primary', str(err))
        reqs = [Request(str(i), MiB, primary=True) for i in range(4)]
        err = self.assertRaises(layout.LayoutError, place_exact, 'mbr',
                                GiB, 512, MiB, reqs + [Request('l', MiB)])
        self.assertIn('asks for 5', str(err))

    def test_primary_after_logical(self):
        err = self.assertRaises(layout.LayoutError, place_exact, 'mbr',
                                GiB, 512, MiB, [
                                    Request('l', MiB),
                                    Request('p', MiB, primary=True)])
        self.assertEqual(1, err.index)
        self.assertIn('must come first', str(err))

    def test_mbr_limit_is_2tib(self):
        first, last = layout.usable_range('mbr', 8 * 2 ** 32, 512)
        self.assertEqual((1, 2 ** 32 - 1), (first, last))
