"""The classic naas_drivers FTP snippets, run as an ftp-host plugin.

The notebook below is the classic driver's six lines, verbatim but for two
changes: the import (`naas_drivers.ftp` -> `naas_ftp`) and the host name
(`host=host`, a parameter, where the classic driver had its own server as the
default). The three `connect` lines are alternatives, as they were in the
notebook: one of them runs, chosen by the `connect` parameter, then the three
lines after them, like notebook cells. An expression's value is shown, as
Jupyter shows a cell's.

Parameters come the way a notebook gets them from papermill: `NAME=VALUE`
arguments after `--` on the `ftp-host run` command line.

    user=USER passwd=PASSWORD host=HOST [connect=plain|ftps|force_prot]

    ftp-host run build/ftp-classic.wasm --allow ftp.example.com:990 \\
        --dir ./work::/path/to/local -- \\
        user=me passwd=secret host=ftp.example.com connect=force_prot

`host` may carry a port (`127.0.0.1:2121`) or be an `ftps://` URL, which means
implicit FTPS on its port (see guest-libs/python/README.md for the connect
rule). "Locally" means the first directory the operator granted: grant one as
`/path/to/local` and the snippets' paths work as written, `get` saving
`/path/to/local/ftp` and `send` reading `/path/to/local/file`.
"""

import ast
import sys

import naas_ftp
import wit_world
from componentize_py_types import Err

# The notebook. Only the import and the host name differ from the classic
# driver's documentation.
NOTEBOOK = """\
ftp = naas_ftp.connect(user, passwd, host=host)                      # plain FTP
ftp = naas_ftp.connect(user, passwd, host=host, port=990, secure=True)  # FTPS
ftp = naas_ftp.connect(user, passwd, host=host, secure=True, force_prot=True)
ftp.get("/path/to/file/in/ftp")                       # saves the file locally under its name
ftp.send("/path/to/local/file", "/path/to/file/in/ftp")  # uploads a local file
ftp.list_directory()                                  # names in the current directory
"""

# Which of the three connect lines runs.
CONNECT = {"plain": 0, "ftps": 1, "force_prot": 2}
PARAMETERS = ("user", "passwd", "host", "connect")
USAGE = "usage: user=USER passwd=PASSWORD host=HOST [connect=plain|ftps|force_prot]"


class WitWorld(wit_world.WitWorld):
    def run(self, args: list[str]) -> str:
        try:
            params = parameters(args)
            lines = NOTEBOOK.splitlines()
            cells = [lines[CONNECT[params.pop("connect")]], *lines[3:]]
            namespace = {"naas_ftp": naas_ftp, **params}
            for cell in cells:
                run_cell(cell, namespace)
            # What a kernel shutdown would do: log out.
            namespace["ftp"].quit()
            return f"ran {len(cells)} cells"
        except naas_ftp.FtpError as e:
            raise Err(e.describe())
        finally:
            sys.stdout.flush()  # a component never exits: flush by hand


def run_cell(source: str, namespace: dict) -> None:
    """Run one cell; show the value of an expression, as Jupyter does."""
    tree = ast.parse(source, mode="exec")
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        value = eval(compile(ast.Expression(tree.body[0].value), "<cell>", "eval"), namespace)
        if value is not None:
            print(repr(value))
    else:
        exec(compile(tree, "<cell>", "exec"), namespace)


def parameters(args: list[str]) -> dict:
    params = {"connect": "plain"}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or name not in PARAMETERS:
            raise Err(f"bad parameter {arg!r}; {USAGE}")
        params[name] = value
    missing = [name for name in PARAMETERS if name not in params]
    if missing:
        raise Err(f"missing {', '.join(missing)}; {USAGE}")
    if params["connect"] not in CONNECT:
        raise Err(f"bad connect={params['connect']!r}; {USAGE}")
    return params
