//! Local files: the directories the operator granted (`ftp-host run --dir`),
//! the only ones a plugin can see.

use crate::bindings::wasi::filesystem::preopens::get_directories;
use crate::bindings::wasi::filesystem::types::Descriptor;
use crate::Error;

/// The granted directory holding `path`, and the path inside it: an absolute
/// path under a granted directory's guest name (`/data/x.csv` with
/// `--dir ./d::/data`), or a relative path, taken inside the first granted
/// directory (the classic driver's "current local directory"); a granted
/// directory itself gives `"."`. Anything else
/// is [`Error::Denied`], naming the granted directories and the fix.
pub fn local_dir(path: &str) -> Result<(Descriptor, String), Error> {
    let dirs = get_directories();
    let names: Vec<String> = dirs.iter().map(|(_, name)| name.clone()).collect();
    let relative = !path.starts_with('/') && !path.is_empty();
    for (index, (dir, name)) in dirs.into_iter().enumerate() {
        if relative && index == 0 {
            return Ok((dir, path.to_string()));
        }
        let prefix = name.trim_end_matches('/');
        if path.trim_end_matches('/') == prefix {
            // The granted directory itself.
            return Ok((dir, ".".to_string()));
        }
        if let Some(rest) = path.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
            return Ok((dir, rest.to_string()));
        }
    }
    Err(Error::Denied(format!(
        "{path} is not in a directory the operator granted (granted: {names:?}); the operator can add --dir HOST_DIR::GUEST_DIR"
    )))
}

/// The last part of a remote path: where `get` stores a file by default.
pub(crate) fn base_name(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or(path)
}
