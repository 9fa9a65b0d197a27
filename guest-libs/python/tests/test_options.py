"""The classic connect rule (naas_ftp.options): which security and port."""

import unittest

from naas_ftp.errors import FtpInvalidInput
from naas_ftp.options import Connection, classic, split_host


class ClassicConnect(unittest.TestCase):
    def test_plain_ftp_leaves_the_port_to_the_host(self):
        self.assertEqual(classic("ftp.example.com"), Connection("ftp.example.com", None, "none", False, None))

    def test_secure_on_990_is_implicit(self):
        self.assertEqual(classic("h", port=990, secure=True).security, "implicit")

    def test_secure_without_a_port_is_implicit_on_990_like_the_classic_driver(self):
        c = classic("h", secure=True, force_prot=True)
        self.assertEqual((c.port, c.security, c.force_prot), (990, "implicit", True))

    def test_secure_on_another_port_is_explicit(self):
        self.assertEqual(classic("h", port=21, secure=True).security, "explicit")
        self.assertEqual(classic("h:2121", secure=True), Connection("h", 2121, "explicit", False, None))

    def test_an_ftps_url_is_implicit_on_its_port(self):
        self.assertEqual(classic("ftps://127.0.0.1:40123", force_prot=True), Connection("127.0.0.1", 40123, "implicit", True, None))
        self.assertEqual(classic("ftps://h").port, 990)

    def test_an_ftp_url_is_plain_unless_secure(self):
        self.assertEqual(classic("ftp://h:2121/"), Connection("h", 2121, "none", False, None))
        self.assertEqual(classic("ftp://h:2121", secure=True).security, "explicit")

    def test_ipv6(self):
        self.assertEqual(split_host("[::1]:21"), (None, "::1", 21))
        self.assertEqual(split_host("::1"), (None, "::1", None))

    def test_force_prot_needs_tls(self):
        with self.assertRaisesRegex(FtpInvalidInput, "secure=True"):
            classic("h", force_prot=True)

    def test_two_different_ports_are_refused(self):
        with self.assertRaisesRegex(FtpInvalidInput, "two ports"):
            classic("h:2121", port=21)
        self.assertEqual(classic("h:21", port=21).port, 21)

    def test_bad_hosts_and_ports(self):
        for host in (None, "", "  ", "http://h", "ftp://u:p@h", "ftp://h/dir", "h:0", "h:99999", "h:x", "[::1", ":21"):
            with self.subTest(host=host), self.assertRaises(FtpInvalidInput):
                classic(host)
        for port in (0, 65536, "21", True, -1):
            with self.subTest(port=port), self.assertRaises(FtpInvalidInput):
                classic("h", port=port)

    def test_timeout_is_seconds(self):
        self.assertEqual(classic("h", timeout=2.5).timeout_ms, 2500)
        self.assertEqual(classic("h", timeout=0.0001).timeout_ms, 1)
        self.assertEqual(classic("h", timeout=10**9).timeout_ms, 0xFFFF_FFFF)
        for bad in (0, -1, "5", True):
            with self.subTest(timeout=bad), self.assertRaises(FtpInvalidInput):
                classic("h", timeout=bad)


if __name__ == "__main__":
    unittest.main()
