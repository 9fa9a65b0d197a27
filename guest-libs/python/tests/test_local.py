"""Local paths -> granted directory + path inside it (naas_ftp.local)."""

import unittest

from naas_ftp.errors import FtpLocalError
from naas_ftp.local import display, resolve

GRANTS = ["/data", "/data/out", "/path/to/local"]


class Resolve(unittest.TestCase):
    def test_relative_paths_start_in_the_first_grant(self):
        self.assertEqual(resolve("file.bin", GRANTS, None), (0, "file.bin"))
        self.assertEqual(resolve("a/./b/../c.txt", GRANTS, None), (0, "a/c.txt"))

    def test_relative_paths_start_in_the_chosen_local_dir(self):
        self.assertEqual(resolve("f", GRANTS, "/path/to/local"), (2, "f"))
        self.assertEqual(resolve("f", GRANTS, "/data/sub"), (0, "sub/f"))

    def test_absolute_paths_pick_the_longest_grant(self):
        self.assertEqual(resolve("/path/to/local/file", GRANTS, None), (2, "file"))
        self.assertEqual(resolve("/data/out/x", GRANTS, None), (1, "x"))
        self.assertEqual(resolve("/data/outside", GRANTS, None), (0, "outside"))
        self.assertEqual(resolve("/data", GRANTS, None), (0, "."))

    def test_outside_every_grant_is_refused(self):
        for path in ("/etc/passwd", "/path/to/localx", "../x", "/data/../etc/passwd", "/.."):
            with self.subTest(path=path), self.assertRaises(FtpLocalError):
                resolve(path, GRANTS, None)

    def test_no_grant_at_all(self):
        with self.assertRaisesRegex(FtpLocalError, "granted none"):
            resolve("f", [], None)

    def test_relative_grant_names(self):
        self.assertEqual(resolve("f", ["."], None), (0, "f"))
        self.assertEqual(resolve("out/f", ["out", "."], "."), (0, "f"))

    def test_nul_is_refused(self):
        with self.assertRaises(FtpLocalError):
            resolve("a\0b", GRANTS, None)

    def test_display(self):
        self.assertEqual(display("/local", "a/b"), "/local/a/b")
        self.assertEqual(display("/local", "."), "/local")


if __name__ == "__main__":
    unittest.main()
