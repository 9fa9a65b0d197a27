//! `mirror REMOTE_DIR LOCAL_DIR`: a one-way copy of a remote tree into a
//! granted local directory that transfers only what changed.
//!
//! A remote file is downloaded when the local copy is missing, or its size or
//! modification time (to the second) differs from the listing's. After a
//! download the local file gets the remote time, so the next run sees it as
//! unchanged. A file whose listing has neither size nor time is downloaded
//! every time. Each download lands under a hidden temporary name in its
//! directory and is renamed into place once the server confirmed it: a
//! reader never sees half a file. Symlinks and other entries are skipped.

use naas_ftp::bindings::wasi::clocks::wall_clock::Datetime as WallClock;
use naas_ftp::bindings::wasi::filesystem::types::{Descriptor, DescriptorType, ErrorCode, NewTimestamp, PathFlags};
use naas_ftp::{kind_name, local_dir, Entry, EntryKind, Error, Ftp};

#[derive(Default)]
struct Summary {
    downloaded: u64,
    bytes: u64,
    unchanged: u64,
    directories: u64,
    skipped: u64,
}

pub fn mirror(ftp: &Ftp, remote: &str, local: &str) -> Result<String, Error> {
    let (dir, root) = local_dir(local)?;
    if root != "." {
        create_dir(&dir, &root)?;
    }
    let mut summary = Summary::default();
    walk(ftp, &dir, remote, &root, "", &mut summary)?;
    Ok(format!(
        "mirrored {remote} to {local}: {} files downloaded ({} bytes), {} unchanged, {} directories, {} skipped",
        summary.downloaded, summary.bytes, summary.unchanged, summary.directories, summary.skipped
    ))
}

/// `parent/name`, with `""` and `"."` as the empty parent.
fn join(parent: &str, name: &str) -> String {
    match parent {
        "" | "." => name.to_string(),
        _ if parent.ends_with('/') => format!("{parent}{name}"),
        _ => format!("{parent}/{name}"),
    }
}

/// Mirror the remote directory `remote` into `local` (inside `dir`); `rel`
/// is the path below the mirror's root, for messages.
fn walk(ftp: &Ftp, dir: &Descriptor, remote: &str, local: &str, rel: &str, summary: &mut Summary) -> Result<(), Error> {
    let mut entries = ftp.list(Some(remote))?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for entry in &entries {
        let (remote_path, local_path, rel_path) =
            (join(remote, &entry.name), join(local, &entry.name), join(rel, &entry.name));
        match entry.kind {
            EntryKind::Directory => {
                create_dir(dir, &local_path)?;
                summary.directories += 1;
                walk(ftp, dir, &remote_path, &local_path, &rel_path, summary)?;
            }
            EntryKind::File if unchanged(dir, &local_path, entry) => summary.unchanged += 1,
            EntryKind::File => {
                let bytes = ftp.download_into(&remote_path, dir, &local_path)?;
                if let Some(time) = &entry.modified {
                    let time = WallClock { seconds: time.seconds.max(0) as u64, nanoseconds: time.nanoseconds };
                    dir.set_times_at(
                        PathFlags::empty(),
                        &local_path,
                        NewTimestamp::NoChange,
                        NewTimestamp::Timestamp(time),
                    )
                    .map_err(|e| Error::Io(format!("cannot set the time of {rel_path}: {e:?}")))?;
                }
                println!("downloaded {rel_path} ({bytes} bytes)");
                summary.downloaded += 1;
                summary.bytes += bytes;
            }
            _ => {
                println!("skipped {rel_path} ({})", kind_name(entry.kind));
                summary.skipped += 1;
            }
        }
    }
    Ok(())
}

/// Create the local directory `path` unless it exists.
fn create_dir(dir: &Descriptor, path: &str) -> Result<(), Error> {
    match dir.create_directory_at(path) {
        Ok(()) | Err(ErrorCode::Exist) => Ok(()),
        Err(e) => Err(Error::Io(format!("cannot create the local directory {path}: {e:?}"))),
    }
}

/// Whether the local file at `path` matches the remote `entry` by size and
/// modification time (as far as the listing tells them).
fn unchanged(dir: &Descriptor, path: &str, entry: &Entry) -> bool {
    let Ok(stat) = dir.stat_at(PathFlags::empty(), path) else {
        return false;
    };
    if stat.type_ != DescriptorType::RegularFile || (entry.size.is_none() && entry.modified.is_none()) {
        return false;
    }
    let same_size = entry.size.is_none_or(|size| size == stat.size);
    let local_seconds = stat.data_modification_timestamp.map(|t| t.seconds as i64);
    let same_time = entry.modified.as_ref().is_none_or(|t| local_seconds == Some(t.seconds));
    same_size && same_time
}
