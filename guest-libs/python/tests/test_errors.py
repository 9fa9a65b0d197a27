"""WIT error values -> typed exceptions (naas_ftp.errors)."""

import unittest
from dataclasses import dataclass

from naas_ftp import errors
from naas_ftp.errors import FtpError, FtpNotFound, FtpProtocol, from_wit


def binding_class(name):
    """A stand-in for componentize-py's generated `Error_<Case>` dataclass:
    from_wit goes by the class name only."""
    return dataclass(type(name, (), {"__annotations__": {"value": object}}))


@dataclass
class ProtocolError:
    code: int
    message: str


class FromWit(unittest.TestCase):
    def test_every_case_has_its_class_and_keeps_the_message(self):
        cases = {
            "Denied": (errors.FtpDenied, PermissionError),
            "Connect": (errors.FtpConnect, ConnectionError),
            "Tls": (errors.FtpTls, FtpError),
            "Auth": (errors.FtpAuth, FtpError),
            "NotFound": (errors.FtpNotFound, FileNotFoundError),
            "Permission": (errors.FtpPermission, PermissionError),
            "Timeout": (errors.FtpTimeout, TimeoutError),
            "InvalidInput": (errors.FtpInvalidInput, ValueError),
            "TooLarge": (errors.FtpTooLarge, FtpError),
            "Io": (errors.FtpIo, FtpError),
            "Unsupported": (errors.FtpUnsupported, FtpError),
        }
        for case, (cls, builtin) in cases.items():
            with self.subTest(case=case):
                e = from_wit(binding_class(f"Error_{case}")(f"{case} message"))
                self.assertIs(type(e), cls)
                self.assertIsInstance(e, FtpError)
                self.assertIsInstance(e, builtin)
                self.assertEqual(str(e), f"{case} message")
                self.assertEqual(e.message, f"{case} message")

    def test_kinds_are_the_wit_case_names(self):
        self.assertEqual(from_wit(binding_class("Error_NotFound")("m")).describe(), "not-found: m")
        self.assertEqual(from_wit(binding_class("Error_InvalidInput")("m")).kind, "invalid-input")

    def test_protocol_carries_the_reply_code(self):
        e = from_wit(binding_class("Error_Protocol")(ProtocolError(504, "Command not implemented")))
        self.assertIsInstance(e, FtpProtocol)
        self.assertEqual((e.code, e.message), (504, "Command not implemented"))
        self.assertEqual(e.describe(), "protocol: 504 Command not implemented")

    def test_a_case_from_a_newer_wit_is_still_an_ftp_error(self):
        e = from_wit(binding_class("Error_QuotaExceeded")("over quota"))
        self.assertIs(type(e), FtpError)
        self.assertEqual(e.describe(), "quota-exceeded: over quota")

    def test_not_found_is_caught_as_file_not_found(self):
        with self.assertRaises(FileNotFoundError):
            raise FtpNotFound("no /x on ftp.example.com")


if __name__ == "__main__":
    unittest.main()
