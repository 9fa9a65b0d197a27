"""The generated WIT bindings naas_ftp needs, under the module names the
build gives them (componentize-py `--import-interface-name`):

    naas:ftp/client@0.2.0=ftp_client        naas:ftp/types@0.2.0=ftp_types
    wasi:filesystem/types@0.2.12=wasi_filesystem
    wasi:filesystem/preopens@0.2.12=wasi_preopens
    wasi:io/streams@0.2.12=wasi_streams

(`guest-examples/python/build.sh` shows the whole command.) Imported only
when a call needs the host, so the pure modules load anywhere.
"""

try:
    from componentize_py_types import Err
    from wit_world.imports import ftp_client, ftp_types, wasi_filesystem, wasi_preopens, wasi_streams
except ImportError as e:  # pragma: no cover - outside a component
    raise ImportError(
        "naas_ftp talks to the host through the WIT bindings of an ftp-host plugin: build the plugin with "
        "componentize-py and --import-interface-name for naas:ftp/client=ftp_client, naas:ftp/types=ftp_types, "
        "wasi:filesystem/types=wasi_filesystem, wasi:filesystem/preopens=wasi_preopens and "
        "wasi:io/streams=wasi_streams (see guest-libs/python/README.md)"
    ) from e

__all__ = ["Err", "ftp_client", "ftp_types", "wasi_filesystem", "wasi_preopens", "wasi_streams"]
