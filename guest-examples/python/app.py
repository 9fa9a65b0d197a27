"""Example ftp-host plugin in Python, built into a component by componentize-py,
written with the naas_ftp library (guest-libs/python).

Usage (everything after `--` on the `ftp-host run` command line):

    --host H [--port P] [--user U] [--password W] [--security none|explicit|implicit]
    [--force-prot] [--timeout-ms N] COMMAND [ARGS...]

    ls [DIR]             print the names in DIR
    ls -l [DIR]          print DIR's entries, sorted by name: KIND SIZE MODIFIED NAME
                         (naas:ftp 0.2.0; the format of guest-examples/README.md)
    mkdir [-p] DIR       create DIR (with -p its parents too, and no error if it exists)
    mv FROM TO           rename or move FROM to TO
    rm PATH              delete the file PATH
    rmdir DIR            remove the empty directory DIR
    sha256 PATH...       download each file and print its SHA-256 and size
    cat PATH             download a file and print it
    put PATH TEXT        upload TEXT to PATH
    download REMOTE LOCAL
                         stream REMOTE into LOCAL (in a directory the operator
                         granted with --dir), atomically
    mirror-report [DIR]  download every file of DIR, print a table of name, size
                         and SHA-256, and upload it as DIR/manifest.json

A failed call is reported as `KIND: message`, KIND being the WIT error case
(`not-found`, `auth`, ...), so an operator or a test can tell them apart.
"""

import hashlib
import json
import sys

import naas_ftp
import wit_world
from componentize_py_types import Err
from naas_ftp import Ftp, FtpError, FtpNotFound, FtpPermission
from naas_ftp.entries import iso

USAGE = (
    "usage: --host HOST [--port P] [--user U] [--password W] "
    "[--security none|explicit|implicit] [--force-prot] [--timeout-ms N] "
    "ls|sha256|cat|put|download|mkdir|mv|rm|rmdir|mirror-report ..."
)
MANIFEST = "manifest.json"


class UsageError(Exception):
    """A bad command line: reported as is, without a KIND."""


class WitWorld(wit_world.WitWorld):
    def run(self, args: list[str]) -> str:
        # The return value becomes `ok`; raising `Err(text)` becomes `err`.
        try:
            connection, command = parse_args(args)
            # `with` logs out at the end, or closes the connection if the
            # block raised.
            with naas_ftp.open_session(**connection) as ftp:
                return run_command(ftp, command)
        except FtpError as e:
            # One class per WIT error case; `describe()` is `KIND: message`.
            raise Err(e.describe())
        except UsageError as e:
            raise Err(str(e))
        finally:
            sys.stdout.flush()  # a component never exits: flush by hand


def run_command(ftp: Ftp, command: list[str]) -> str:
    match command:
        case ["ls", "-l", *rest]:
            entries = ftp.list(rest[0] if rest else None)
            # By name: Python compares code points, the UTF-8 byte order.
            for entry in sorted(entries, key=lambda e: e.name):
                print(entry_line(entry))
            return f"{len(entries)} entries"
        case ["mkdir", "-p", path]:
            ftp.mkdir(path, parents=True)
            return f"created directory {path}"
        case ["mkdir", path]:
            ftp.mkdir(path)
            return f"created directory {path}"
        case ["mv", source, target]:
            ftp.rename(source, target)
            return f"renamed {source} to {target}"
        case ["rm", path]:
            ftp.delete(path)
            return f"deleted {path}"
        case ["rmdir", path]:
            ftp.rmdir(path)
            return f"removed directory {path}"
        case ["ls", *rest]:
            names = ftp.list_directory(rest[0] if rest else None)
            for name in names:
                print(name)
            return f"{len(names)} entries"
        case ["sha256", *paths] if paths:
            for path in paths:
                data = ftp.read_bytes(path)
                print(f"{hashlib.sha256(data).hexdigest()}  {len(data)}  {path}")
            return f"{len(paths)} files checked"
        case ["cat", path, *_]:
            data = ftp.read_bytes(path)
            sys.stdout.flush()
            sys.stdout.buffer.write(data)  # the bytes as they are
            return f"{len(data)} bytes"
        case ["put", path, *text]:
            sent = ftp.write_bytes(path, (text[0] if text else "").encode())
            return f"uploaded {sent} bytes to {path}"
        case ["download", remote, local, *_]:
            # Streams: the bytes go from the network to the file inside the
            # host, whatever the size; a missing file raises FtpNotFound.
            _, received = ftp.download(remote, local)
            return f"downloaded {remote} to {local} ({received} bytes, {received} this time)"
        case ["mirror-report", *rest]:
            return mirror_report(ftp, rest[0] if rest else None)
        case _:
            expected = "ls, sha256, cat, put, download, mkdir, mv, rm, rmdir or mirror-report"
            raise naas_ftp.FtpInvalidInput(f"unknown command {json.dumps(command)}: expected {expected}")


def entry_line(entry: naas_ftp.Entry) -> str:
    """The `ls -l` line every example prints (guest-examples/README.md):
    `KIND SIZE MODIFIED NAME`, single spaces, `-` for what the server did not
    say, and ` -> TARGET` when the entry has a target."""
    size = "-" if entry.size is None else str(entry.size)
    line = f"{entry.kind} {size} {iso(entry.modified)} {entry.name}"
    return line if entry.target is None else f"{line} -> {entry.target}"


def mirror_report(ftp: Ftp, directory: str | None) -> str:
    """What Python is good at: a table on stdout and a JSON manifest uploaded
    next to the files, for a mirror job to compare against."""
    if directory:
        ftp.cwd(directory)
    files = []
    for name in sorted(ftp.list_directory()):
        if name == MANIFEST:
            continue  # our own output from an earlier run
        try:
            data = ftp.read_bytes(name)
        except (FtpNotFound, FtpPermission):
            # A directory in the listing is not a file to download.
            print(f"skipped {name} (not a file)")
            continue
        files.append({"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    width = max([len("name")] + [len(f["name"]) for f in files])
    print(f"{'name':<{width}}  {'size':>10}  sha256")
    for f in files:
        print(f"{f['name']:<{width}}  {f['size']:>10}  {f['sha256']}")

    manifest = {"directory": ftp.pwd(), "files": files}
    sent = ftp.write_bytes(MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n")
    print(f"uploaded {MANIFEST} ({sent} bytes)")
    return f"{len(files)} files in manifest"


def parse_args(args: list[str]) -> tuple[dict, list[str]]:
    """The connection flags -> keyword arguments of `naas_ftp.open_session`
    (the WIT's connect-options, spelled out), and the command."""
    connection: dict = {"host": "", "user": "anonymous", "password": ""}
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
                connection["host"] = value(arg)
            case "--port":
                connection["port"] = number(arg, 0xFFFF)
            case "--user":
                connection["user"] = value(arg)
            case "--password":
                connection["password"] = value(arg)
            case "--security":
                level = value(arg)
                if level not in ("none", "explicit", "implicit"):
                    raise UsageError(f'bad --security "{level}": none, explicit or implicit')
                connection["security"] = level
            case "--force-prot":
                connection["force_prot"] = True
            case "--timeout-ms":
                connection["timeout"] = number(arg, 0xFFFF_FFFF) / 1000
            case _:
                command = [arg, *rest]  # the command and its arguments
                break
    if not connection["host"] or not command:
        raise UsageError(USAGE)
    return connection, command
