"""Example ftp-host plugin in Python, built into a component by componentize-py.

Usage (everything after `--` on the `ftp-host run` command line):

    --host H [--port P] [--user U] [--password W] [--security none|explicit|implicit]
    [--force-prot] [--timeout-ms N] COMMAND [ARGS...]

    ls [DIR]             print the names in DIR
    sha256 PATH...       download each file and print its SHA-256 and size
    cat PATH             download a file and print it
    put PATH TEXT        upload TEXT to PATH
    mirror-report [DIR]  download every file of DIR, print a table of name, size
                         and SHA-256, and upload it as DIR/manifest.json

A failed call is reported as `KIND: message`, KIND being the WIT error case
(`not-found`, `auth`, ...), so an operator or a test can tell them apart.
"""

import hashlib
import json
import sys

import wit_world
from componentize_py_types import Err
# Module names are fixed by build.sh (--import-interface-name), so they do not
# change when the world imports another interface called `types` or `client`.
from wit_world.imports import ftp_client, ftp_types

USAGE = (
    "usage: --host HOST [--port P] [--user U] [--password W] "
    "[--security none|explicit|implicit] [--force-prot] [--timeout-ms N] "
    "ls|sha256|cat|put|mirror-report ..."
)
MANIFEST = "manifest.json"


class UsageError(Exception):
    """A bad command line: reported as is, without a KIND."""


class WitWorld(wit_world.WitWorld):
    def run(self, args: list[str]) -> str:
        # The return value becomes `ok`; raising `Err(text)` becomes `err`.
        try:
            options, command = parse_args(args)
            # The session is a resource: `with` drops it (closing the
            # connection) however the block ends.
            with ftp_client.connect(options) as ftp:
                summary = run_command(ftp, command)
                ftp.quit()
            return summary
        except Err as e:
            # Every call on `ftp` raises `Err(ftp_types.Error_*)` when it fails.
            raise Err(describe(e.value))
        except UsageError as e:
            raise Err(str(e))
        finally:
            sys.stdout.flush()  # a component never exits: flush by hand


def run_command(ftp: ftp_client.Session, command: list[str]) -> str:
    match command:
        case ["ls", *rest]:
            names = ftp.list_directory(rest[0] if rest else None)
            for name in names:
                print(name)
            return f"{len(names)} entries"
        case ["sha256", *paths] if paths:
            for path in paths:
                data = ftp.get(path)
                print(f"{hashlib.sha256(data).hexdigest()}  {len(data)}  {path}")
            return f"{len(paths)} files checked"
        case ["cat", path, *_]:
            data = ftp.get(path)
            sys.stdout.flush()
            sys.stdout.buffer.write(data)  # the bytes as they are
            return f"{len(data)} bytes"
        case ["put", path, *text]:
            sent = ftp.send(path, (text[0] if text else "").encode())
            return f"uploaded {sent} bytes to {path}"
        case ["mirror-report", *rest]:
            return mirror_report(ftp, rest[0] if rest else None)
        case _:
            expected = "ls, sha256, cat, put or mirror-report"
            message = f"unknown command {json.dumps(command)}: expected {expected}"
            raise Err(ftp_types.Error_InvalidInput(message))


def mirror_report(ftp: ftp_client.Session, directory: str | None) -> str:
    """What Python is good at: a table on stdout and a JSON manifest uploaded
    next to the files, for a mirror job to compare against."""
    if directory:
        ftp.cwd(directory)
    files = []
    for name in sorted(ftp.list_directory(None)):
        if name == MANIFEST:
            continue  # our own output from an earlier run
        try:
            data = ftp.get(name)
        except Err as e:
            # A directory in the listing is not a file to download.
            if isinstance(e.value, (ftp_types.Error_NotFound, ftp_types.Error_Permission)):
                print(f"skipped {name} (not a file)")
                continue
            raise
        files.append({"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    width = max([len("name")] + [len(f["name"]) for f in files])
    print(f"{'name':<{width}}  {'size':>10}  sha256")
    for f in files:
        print(f"{f['name']:<{width}}  {f['size']:>10}  {f['sha256']}")

    manifest = {"directory": ftp.pwd(), "files": files}
    sent = ftp.send(MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n")
    print(f"uploaded {MANIFEST} ({sent} bytes)")
    return f"{len(files)} files in manifest"


def parse_args(args: list[str]) -> tuple[ftp_types.ConnectOptions, list[str]]:
    options = ftp_types.ConnectOptions(
        host="",
        port=None,
        user="anonymous",
        password="",
        security=ftp_types.Security.NONE,
        force_prot=False,
        timeout_ms=None,
    )
    rest = iter(args)

    def value(flag: str) -> str:
        try:
            return next(rest)
        except StopIteration:
            raise UsageError(f"{flag} needs a value") from None

    def number(flag: str, maximum: int) -> int:
        text = value(flag)
        if not text.isdigit() or int(text) > maximum:
            raise UsageError(f'bad {flag} "{text}"')
        return int(text)

    command: list[str] = []
    for arg in rest:
        match arg:
            case "--host":
                options.host = value(arg)
            case "--port":
                options.port = number(arg, 0xFFFF)
            case "--user":
                options.user = value(arg)
            case "--password":
                options.password = value(arg)
            case "--security":
                level = value(arg)
                if level not in ("none", "explicit", "implicit"):
                    raise UsageError(f'bad --security "{level}": none, explicit or implicit')
                options.security = ftp_types.Security[level.upper()]
            case "--force-prot":
                options.force_prot = True
            case "--timeout-ms":
                options.timeout_ms = number(arg, 0xFFFF_FFFF)
            case _:
                command = [arg, *rest]  # the command and its arguments
                break
    if not options.host or not command:
        raise UsageError(USAGE)
    return options, command


# WIT error case -> the `KIND` of `KIND: message` (its kebab-case name).
KINDS = {
    ftp_types.Error_Denied: "denied",
    ftp_types.Error_Connect: "connect",
    ftp_types.Error_Tls: "tls",
    ftp_types.Error_Auth: "auth",
    ftp_types.Error_NotFound: "not-found",
    ftp_types.Error_Permission: "permission",
    ftp_types.Error_Timeout: "timeout",
    ftp_types.Error_Protocol: "protocol",
    ftp_types.Error_InvalidInput: "invalid-input",
    ftp_types.Error_TooLarge: "too-large",
    ftp_types.Error_Io: "io",
}


def describe(error: ftp_types.Error) -> str:
    """`KIND: message`; for a protocol error `protocol: CODE MESSAGE`."""
    if isinstance(error, ftp_types.Error_Protocol):
        return f"protocol: {error.value.code} {error.value.message}"
    return f"{KINDS[type(error)]}: {error.value}"
