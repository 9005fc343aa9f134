from diskimage_builder.block_device import sizes
from diskimage_builder.block_device.tests.support.fakes import TestCase


class TestParseSize(TestCase):

    def test_table(self):
        table = [
            (4096, 4096), ('4096', 4096), ('512B', 512),
            ('1KiB', 1024), ('1MiB', 1048576), ('2GiB', 2147483648),
            ('1TiB', 1099511627776),
            ('1KB', 1000), ('1MB', 1000000), ('40G', 40000000000),
            ('1K', 1000), ('3M', 3000000), ('1T', 10 ** 12),
            ('1.5GiB', 1610612736), ('0.5MiB', 524288),
            (' 8 MiB ', 8388608), ('2097152KiB', 2147483648),
        ]
        for text, expected in table:
            self.assertEqual(expected, sizes.parse_size(text), text)

    def test_rejects(self):
        for bad in ['', 'MiB', '-1MiB', '1 XB', '1mib', '1.MiB', 'ten',
                    '1e3', None, [], True, -5, 1.5, '1%', '9' * 40]:
            self.assertRaises(sizes.SizeError, sizes.parse_size, bad)

    def test_message_names_value_and_units(self):
        err = self.assertRaises(sizes.SizeError, sizes.parse_size, '3 GB B')
        self.assertIn("'3 GB B'", str(err))
        err = self.assertRaises(sizes.SizeError, sizes.parse_size, '3Gb')
        self.assertIn('unknown unit', str(err))
        self.assertIn('GiB', str(err))


class TestPercent(TestCase):

    def test_parse(self):
        self.assertEqual(50, sizes.parse_percent('50%'))
        self.assertEqual(33.5, float(sizes.parse_percent('33.5%')))
        self.assertTrue(sizes.is_percent('100%'))
        self.assertFalse(sizes.is_percent('100'))
        self.assertFalse(sizes.is_percent(100))

    def test_bounds(self):
        for bad in ['0%', '101%', '-5%', '%', 'x%', 50]:
            self.assertRaises(sizes.SizeError, sizes.parse_percent, bad)

    def test_percent_of_rounds_down(self):
        self.assertEqual(33, sizes.percent_of(100,
                                              sizes.parse_percent('33.9%')))
        self.assertEqual(1431655765, sizes.percent_of(
            4294967296, sizes.parse_percent('33.333333333333333%')))


class TestAlign(TestCase):

    def test_align(self):
        self.assertEqual(2048, sizes.align_up(34, 2048))
        self.assertEqual(2048, sizes.align_up(2048, 2048))
        self.assertEqual(4096, sizes.align_up(2049, 2048))
        self.assertEqual(0, sizes.align_down(2047, 2048))
        self.assertEqual(2048, sizes.align_down(4095, 2048))

    def test_human(self):
        self.assertEqual('1 GiB', sizes.human(1 << 30))
        self.assertEqual('1.5 MiB', sizes.human(3 << 19))
        self.assertEqual('100 B', sizes.human(100))
