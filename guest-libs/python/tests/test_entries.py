"""Times and entries (naas_ftp.entries)."""

import datetime as dt
import unittest

from naas_ftp.entries import Entry, from_datetime, iso, to_datetime

UTC = dt.timezone.utc


class Times(unittest.TestCase):
    def test_round_trip(self):
        when = dt.datetime(2026, 12, 1, 22, 0, 5, 250000, tzinfo=UTC)
        self.assertEqual(to_datetime(*from_datetime(when)), when)
        self.assertEqual(from_datetime(when), (1796162405, 250_000_000))

    def test_before_1970(self):
        when = dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)
        self.assertEqual(from_datetime(when), (-1, 0))
        self.assertEqual(to_datetime(-1, 0), when)

    def test_other_zones_are_converted(self):
        cet = dt.timezone(dt.timedelta(hours=1))
        self.assertEqual(from_datetime(dt.datetime(1970, 1, 1, 1, tzinfo=cet)), (0, 0))

    def test_seconds(self):
        self.assertEqual(from_datetime(1.5), (1, 500_000_000))
        self.assertEqual(from_datetime(7), (7, 0))

    def test_naive_datetimes_are_refused(self):
        with self.assertRaises(ValueError):
            from_datetime(dt.datetime(2026, 1, 1))

    def test_iso(self):
        self.assertEqual(iso(to_datetime(0, 999)), "1970-01-01T00:00:00Z")
        self.assertEqual(iso(None), "-")


class Entries(unittest.TestCase):
    def test_kinds(self):
        self.assertTrue(Entry("d", "directory").is_dir)
        self.assertTrue(Entry("f", "file", 3).is_file)
        self.assertFalse(Entry("l", "symlink", target="f").is_file)


if __name__ == "__main__":
    unittest.main()
