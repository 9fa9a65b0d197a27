"""naas_ftp: the classic FTP driver API for ftp-host plugins written in Python.

    import naas_ftp

    ftp = naas_ftp.connect(user, passwd, host="ftp.example.com")   # plain FTP
    ftp = naas_ftp.connect(user, passwd, host="ftp.example.com", port=990, secure=True)  # FTPS
    ftp.get("/path/to/file/in/ftp")        # saved in the granted directory under its name
    ftp.send("/path/to/local/file", "/path/to/file/in/ftp")
    ftp.list_directory()                   # names

Failures raise a subclass of `FtpError`, one per WIT error case
(`FtpNotFound`, `FtpDenied`, `FtpAuth`, ...). See guest-libs/python/README.md.

The version is the version of the `naas:ftp` WIT package it is built for.
"""

from .client import Ftp, connect, connect_profile, granted_dirs, open_session
from .entries import Entry
from .errors import (
    FtpAuth,
    FtpConnect,
    FtpDenied,
    FtpError,
    FtpInvalidInput,
    FtpIo,
    FtpLocalError,
    FtpNotFound,
    FtpPermission,
    FtpProtocol,
    FtpTimeout,
    FtpTls,
    FtpTooLarge,
    FtpUnsupported,
)

__version__ = "0.2.0"
#: The `naas:ftp` WIT version this library speaks.
WIT_VERSION = "0.2.0"

__all__ = [
    "Entry",
    "Ftp",
    "FtpAuth",
    "FtpConnect",
    "FtpDenied",
    "FtpError",
    "FtpInvalidInput",
    "FtpIo",
    "FtpLocalError",
    "FtpNotFound",
    "FtpPermission",
    "FtpProtocol",
    "FtpTimeout",
    "FtpTls",
    "FtpTooLarge",
    "FtpUnsupported",
    "connect",
    "connect_profile",
    "granted_dirs",
    "open_session",
]
