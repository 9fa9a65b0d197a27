//! Directory listings: what an FTP server says about its files, turned into
//! [`Entry`] values, and the capped reader that takes a listing off a data
//! connection.
//!
//! This module owns:
//! * the parsers: `MLSD` lines and `MLST` replies (RFC 3659, [`parse_mlsx`],
//!   [`parse_mlst`]) and `LIST` lines ([`parse_list_line`]) in the Unix
//!   `ls -l` format (vsftpd, proftpd, pure-ftpd, FileZilla Server) and the
//!   DOS format of IIS. A line
//!   neither format explains becomes a [`Kind::Other`] entry named by the raw
//!   line, never a failed listing; `.`, `..`, `cdir`/`pdir` facts and
//!   `total N` lines are no entries at all;
//! * names: every name is decoded as UTF-8, lossily (each invalid sequence
//!   becomes U+FFFD and [`Entry::name_was_lossy`] is set), and loses any
//!   directory part;
//! * time: [`Timestamp`] (UTC) and its civil-date conversion
//!   ([`Civil`], [`days_from_civil`]), `MDTM` replies ([`parse_mdtm`]) and
//!   `MFMT` arguments ([`format_mfmt`]);
//! * reading: [`for_each_line`] (and [`read_lines`], [`read_listing`] on top
//!   of it) reads a listing from the data connection line by line and stops
//!   as soon as one of its [`Caps`] is passed, holding at most one line and
//!   one read chunk in memory besides what it returns, and reports every byte
//!   it reads so the run's byte budget counts listing bytes too.
//!
//! Nothing here knows the WIT bindings, the policy or the network: the
//! session converts [`Entry`] to the guest's `entry` and maps
//! [`ReadLinesError`] to its errors.

use std::borrow::Cow;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt};

// ============================================================ limits

/// Default cap on the bytes of one listing. A directory of 100 000 entries
/// (the default entry cap) lists in ~6 MiB of `ls -l` lines at ~60 bytes
/// each; 8 MiB leaves room for long names while keeping what a hostile server
/// can make the host hold small.
pub const DEFAULT_MAX_LIST_BYTES: u64 = 8 * 1024 * 1024;

/// Longest line of a listing, in bytes, without its line end. A name is at
/// most 255 bytes on common file systems and a symlink target at most 4 KiB
/// (`PATH_MAX`); 16 KiB holds both with the other columns, and bounds what one
/// newline-free stream can make the host buffer.
pub const MAX_LIST_LINE_BYTES: usize = 16 * 1024;

/// Bytes asked of the data connection per read: the reader's buffer besides
/// the line it is assembling.
const READ_CHUNK: usize = 16 * 1024;

// ============================================================ entries

/// What kind of thing an [`Entry`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link; [`Entry::target`] says where to when the server said.
    Symlink,
    /// Anything else: a device, a socket, an unknown `MLSD` type, or a line
    /// no parser understood (then [`Entry::name`] is the whole line).
    Other,
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The name without any directory part (or the raw line, for a line no
    /// parser understood), decoded lossily from the server's bytes.
    pub name: String,
    /// Whether the name's bytes were not valid UTF-8: each invalid sequence
    /// was replaced by U+FFFD, so the name no longer reaches the file.
    pub name_was_lossy: bool,
    /// File, directory, symlink or other.
    pub kind: Kind,
    /// Size in bytes, when the server said (`size`/`sizd` fact, `LIST` size
    /// column; devices and DOS directories have none).
    pub size: Option<u64>,
    /// Last modification time, UTC.
    pub modified: Option<Timestamp>,
    /// Whether `modified` is a guess: `LIST` times carry no time zone (read
    /// as UTC) and Unix lines give a year or a time of day, never both.
    /// `MLSD`/`MLST`/`MDTM` times are exact.
    pub modified_approximate: bool,
    /// Permissions as the server gave them: `rwxr-xr-x` from a Unix `LIST`
    /// line, the `perm` fact (e.g. `adfrw`) from `MLSD`, or the `UNIX.mode`
    /// fact rendered as `rwxr-xr-x` when there is no `perm`.
    pub permissions: Option<String>,
    /// Where a symlink points (`LIST`: `name -> target`; `MLSD`:
    /// `type=OS.unix=slink:target`), decoded lossily.
    pub target: Option<String>,
}

impl Entry {
    /// The entry for a line no parser understood: [`Kind::Other`], named by
    /// the line itself (line end removed).
    pub fn other(line: &[u8]) -> Entry {
        let (name, name_was_lossy) = decode(trim_line_end(line));
        Entry {
            name,
            name_was_lossy,
            kind: Kind::Other,
            size: None,
            modified: None,
            modified_approximate: false,
            permissions: None,
            target: None,
        }
    }
}

/// A line no parser understood: an [`Entry::other`], unless it is just `.`
/// or `..` (these never appear, however they come).
fn raw_line(line: &[u8]) -> Option<Entry> {
    (!matches!(trim_line_end(line), b"." | b"..")).then(|| Entry::other(line))
}

/// Which command produced a listing, hence how to parse its lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// `MLSD` (and the fact line of an `MLST` reply): [`parse_mlsx`].
    Mlsd,
    /// `LIST`: [`parse_list_line`].
    List,
}

/// Parse one line of a listing in `format`; `now` dates Unix `LIST` lines
/// that carry no year. `None`: the line lists nothing (blank, `total N`,
/// `.`, `..`, the `cdir`/`pdir` of `MLSD`).
pub fn parse_line(format: ListFormat, line: &[u8], now: Timestamp) -> Option<Entry> {
    match format {
        ListFormat::Mlsd => parse_mlsx(line),
        ListFormat::List => parse_list_line(line, now),
    }
}

/// What a parser found, before the name is decoded and checked.
struct Found<'a> {
    name: &'a [u8],
    kind: Kind,
    size: Option<u64>,
    modified: Option<Timestamp>,
    modified_approximate: bool,
    permissions: Option<String>,
    target: Option<&'a [u8]>,
}

impl Found<'_> {
    /// The entry, or `None` when the name is empty, `.` or `..` once its
    /// directory part is gone.
    fn finish(self) -> Option<Entry> {
        let name = base_name(self.name)?;
        Some(self.entry(name))
    }

    /// The entry, named `name`.
    fn entry(self, name: &[u8]) -> Entry {
        let (name, name_was_lossy) = decode(name);
        Entry {
            name,
            name_was_lossy,
            kind: self.kind,
            size: self.size,
            modified: self.modified,
            modified_approximate: self.modified_approximate && self.modified.is_some(),
            permissions: self.permissions,
            target: self.target.map(|t| decode(t).0),
        }
    }
}

/// The last `/`-separated component of `name` (trailing slashes ignored);
/// `None` if that is empty, `.` or `..`. Some servers print the path they
/// were asked for (`LIST dir/file`, `MLST /dir/file`); a name with a slash
/// would otherwise reach another directory when sent back.
fn base_name(name: &[u8]) -> Option<&[u8]> {
    let mut end = name.len();
    while end > 0 && name[end - 1] == b'/' {
        end -= 1;
    }
    let trimmed = &name[..end];
    let start = trimmed.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let base = &trimmed[start..];
    (!matches!(base, b"" | b"." | b"..")).then_some(base)
}

/// UTF-8, lossily: the text, and whether anything was replaced.
fn decode(bytes: &[u8]) -> (String, bool) {
    match String::from_utf8_lossy(bytes) {
        Cow::Borrowed(s) => (s.to_string(), false),
        Cow::Owned(s) => (s, true),
    }
}

/// `line` without its LF or CR LF (and any further trailing CR).
fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    if end > 0 && line[end - 1] == b'\n' {
        end -= 1;
    }
    while end > 0 && line[end - 1] == b'\r' {
        end -= 1;
    }
    &line[..end]
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

// ============================================================ MLSD / MLST

/// Parse one `MLSD` line, or the fact line of an `MLST` reply (RFC 3659
/// §7): `fact=value;fact=value; name`, e.g.
/// `type=file;size=1024;modify=20240115143000;perm=adfrw; report.csv`.
///
/// Facts used (names case-insensitive): `type` (`file`, `dir`, `cdir` and
/// `pdir` give `None`, `OS.unix=symlink` and `OS.unix=slink:TARGET` a
/// symlink, anything else [`Kind::Other`]), `size` (else `sizd`), `modify`
/// (`YYYYMMDDHHMMSS[.fff]`, UTC, exact), `perm`, `UNIX.mode`. Unknown facts
/// and malformed values are ignored; a line without the `facts; name` shape
/// becomes an [`Entry::other`].
pub fn parse_mlsx(line: &[u8]) -> Option<Entry> {
    mlsx(line, true)
}

/// The entry an `MLST` reply describes (RFC 3659 §7.2), for `stat`: takes
/// the whole reply (`250-Start of list for x`, ` facts; /x`, `250 End`) or
/// just its fact line. Unlike [`parse_mlsx`], `cdir` and `pdir` are
/// directories, and a name with nothing left once its directory part is gone
/// (`/`, `.`) is kept as the server gave it. `None` if no line holds facts.
pub fn parse_mlst(reply: &str) -> Option<Entry> {
    let is_code_line = |l: &str| {
        l.len() >= 4 && l.as_bytes()[..3].iter().all(u8::is_ascii_digit) && matches!(l.as_bytes()[3], b' ' | b'-')
    };
    let line = reply.lines().find(|l| l.starts_with(' ') || !(is_code_line(l) || l.trim().is_empty()))?;
    mlsx(line.as_bytes(), false).filter(|e| *e != Entry::other(line.as_bytes()))
}

/// [`parse_mlsx`] (`listing`) or [`parse_mlst`] (not).
fn mlsx(line: &[u8], listing: bool) -> Option<Entry> {
    let line = trim_line_end(line);
    if is_blank(line) {
        return None;
    }
    // MLST replies indent the fact line by one space.
    let body = line.strip_prefix(b" ").unwrap_or(line);
    let Some(space) = body.iter().position(|&b| b == b' ') else { return raw_line(line) };
    let (facts, name) = (&body[..space], &body[space + 1..]);
    // Every fact ends with `;`: this tells a fact line from, say, a bare name
    // with a space in it.
    if facts.is_empty() || !facts.ends_with(b";") || !facts.contains(&b'=') {
        return raw_line(line);
    }
    let mut found = Found {
        name,
        kind: Kind::Other,
        size: None,
        modified: None,
        modified_approximate: false,
        permissions: None,
        target: None,
    };
    let mut sizd = None;
    let mut mode = None;
    for fact in facts.split(|&b| b == b';') {
        let Some(eq) = fact.iter().position(|&b| b == b'=') else { continue };
        let (key, value) = (&fact[..eq], &fact[eq + 1..]);
        match key.to_ascii_lowercase().as_slice() {
            b"type" => {
                // A repeated `type` fact: the last one wins, whole.
                found.target = None;
                let lower = value.to_ascii_lowercase();
                found.kind = match lower.as_slice() {
                    b"file" => Kind::File,
                    b"dir" => Kind::Directory,
                    b"cdir" | b"pdir" if listing => return None,
                    b"cdir" | b"pdir" => Kind::Directory,
                    b"os.unix=symlink" | b"os.unix=slink" => Kind::Symlink,
                    _ if lower.starts_with(b"os.unix=slink:") => {
                        let target = &value[b"os.unix=slink:".len()..];
                        found.target = (!target.is_empty()).then_some(target);
                        Kind::Symlink
                    }
                    _ => Kind::Other,
                };
            }
            b"size" => found.size = parse_u64(value),
            b"sizd" => sizd = parse_u64(value),
            b"modify" => found.modified = std::str::from_utf8(value).ok().and_then(parse_time_val),
            b"perm" => found.permissions = Some(decode(value).0),
            b"unix.mode" => mode = std::str::from_utf8(value).ok().and_then(|m| u32::from_str_radix(m, 8).ok()),
            _ => {}
        }
    }
    found.size = found.size.or(sizd);
    if found.permissions.is_none() {
        found.permissions = mode.filter(|m| *m <= 0o7777).map(mode_string);
    }
    match base_name(name) {
        Some(base) => Some(found.entry(base)),
        None if listing || name.is_empty() => None,
        None => Some(found.entry(name)),
    }
}

/// `0o4755` as `rwsr-xr-x`, as `ls -l` shows it.
fn mode_string(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    // (read bit, write bit, exec bit, special bit, letter for special).
    for (shift, special, letter) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => letter,
            (false, true) => letter.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

// ============================================================ LIST

/// Parse one `LIST` line; `now` dates Unix lines that give a time of day
/// instead of a year.
///
/// * Unix `ls -l` (vsftpd, proftpd, pure-ftpd, FileZilla Server, most
///   others): `-rw-r--r--  1 owner group  1234 Jan 15 14:30 name`, with or
///   without a link count or a group, numeric or named owners,
///   `Mmm dd HH:MM` (the year is the most recent one that puts the date no
///   more than a day after `now`) or `Mmm dd  YYYY` (midnight), names with
///   spaces, `name -> target` for symlinks, `major, minor` instead of a size
///   for devices ([`Kind::Other`], no size).
/// * DOS/IIS: `01-15-24  02:30PM  <DIR>  name` or `... 1234 name`, also with
///   a 4-digit year (`01-15-2024`) and 24-hour times; 2-digit years 00–68
///   are 2000–2068 and 69–99 are 1969–1999, as POSIX `%y` reads them.
///
/// Times have no time zone in either format: read as UTC and marked
/// [`Entry::modified_approximate`]. `None` for blank lines, `total N`, `.`
/// and `..`; any other line that is neither format becomes an
/// [`Entry::other`].
pub fn parse_list_line(line: &[u8], now: Timestamp) -> Option<Entry> {
    let line = trim_line_end(line);
    if is_blank(line) {
        return None;
    }
    let tokens = tokenize(line);
    let word = |i: usize| -> &[u8] { tokens.get(i).map_or(&[][..], |&(s, e)| &line[s..e]) };
    // `ls -l` starts with the blocks the directory uses.
    if tokens.len() == 2 && word(0).eq_ignore_ascii_case(b"total") && parse_u64(word(1)).is_some() {
        return None;
    }
    let found = parse_unix(line, &tokens, now).or_else(|| parse_dos(line, &tokens));
    match found {
        Some(found) => found.finish(),
        None => raw_line(line),
    }
}

/// Byte ranges of the space- or tab-separated words of `line`.
fn tokenize(line: &[u8]) -> Vec<(usize, usize)> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (i, &b) in line.iter().enumerate() {
        let blank = b == b' ' || b == b'\t';
        match (start, blank) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                tokens.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        tokens.push((s, line.len()));
    }
    tokens
}

/// `-rw-r--r--`, `drwxr-xr-x+`, `lrwxrwxrwx`, `crw-rw-rw-`, `-rwsr-S--T.`.
fn unix_mode(word: &[u8]) -> Option<Kind> {
    if !(10..=11).contains(&word.len()) {
        return None;
    }
    let kind = match word[0] {
        b'-' => Kind::File,
        b'd' => Kind::Directory,
        b'l' => Kind::Symlink,
        b'c' | b'b' | b'p' | b's' | b'D' | b'n' => Kind::Other,
        _ => return None,
    };
    let bits_ok = word[1..10].iter().all(|b| b"rwxsStTlL-".contains(b));
    // ACL, extended-attribute or SELinux marker.
    let marker_ok = word.get(10).is_none_or(|b| b"+@.".contains(b));
    (bits_ok && marker_ok).then_some(kind)
}

fn month(word: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8]; 12] =
        [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"];
    if word.len() != 3 {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    MONTHS.iter().position(|m| *m == lower.as_slice()).map(|i| i as u32 + 1)
}

fn small_number(word: &[u8], max_digits: usize) -> Option<u32> {
    if word.is_empty() || word.len() > max_digits || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(word.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

/// `HH:MM` (24-hour).
fn hour_minute(word: &[u8]) -> Option<(u32, u32)> {
    let colon = word.iter().position(|&b| b == b':')?;
    let (h, m) = (&word[..colon], &word[colon + 1..]);
    let (hour, minute) = (small_number(h, 2)?, small_number(m, 2)?);
    (m.len() == 2 && hour <= 23 && minute <= 59).then_some((hour, minute))
}

/// The Unix `ls -l` form: the mode, then anything up to
/// `SIZE Mmm dd (HH:MM|YYYY)`, then one space and the name.
fn parse_unix<'a>(line: &'a [u8], tokens: &[(usize, usize)], now: Timestamp) -> Option<Found<'a>> {
    let word = |i: usize| -> &'a [u8] { &line[tokens[i].0..tokens[i].1] };
    let kind = unix_mode(word(0))?;
    let permissions = String::from_utf8_lossy(&word(0)[1..10]).into_owned();
    // The date is the first `Mmm dd HH:MM|YYYY` after a size (owner and group
    // names can be anything, even `Jan`; a name can hold a date too).
    for i in 2..tokens.len().saturating_sub(2) {
        let Some(month) = month(word(i)) else { continue };
        let Some(day) = small_number(word(i + 1), 2).filter(|d| (1..=31).contains(d)) else { continue };
        let third = word(i + 2);
        let modified = if let Some((hour, minute)) = hour_minute(third) {
            Some(infer_year(month, day, hour, minute, now))
        } else if third.len() == 4 {
            let Some(year) = small_number(third, 4) else { continue };
            Some(Civil::new(i64::from(year), month, day, 0, 0, 0).to_timestamp())
        } else {
            continue;
        };
        // Devices show `major, minor` (`1,   3` or `1,3`) where files show a size.
        let size_word = word(i - 1);
        let device = size_word.contains(&b',') || word(i - 2).ends_with(b",");
        let size = parse_u64(size_word);
        if size.is_none() && !device {
            continue;
        }
        // The name starts one separator after the date: names may begin or
        // go on with spaces.
        let name_start = tokens[i + 2].1 + 1;
        let name = line.get(name_start..).filter(|n| !n.is_empty())?;
        let (name, target) = match kind {
            Kind::Symlink => match find(name, b" -> ") {
                Some(at) => (&name[..at], Some(&name[at + 4..]).filter(|t| !t.is_empty())),
                None => (name, None),
            },
            _ => (name, None),
        };
        return Some(Found {
            name,
            kind: if device { Kind::Other } else { kind },
            size: if device { None } else { size },
            modified: modified.flatten(),
            modified_approximate: true,
            permissions: Some(permissions),
            target,
        });
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The most recent `Mmm dd HH:MM` not more than a day after `now` (a day
/// because the server's clock may run in a time zone ahead of UTC). Looks
/// back up to eight years, which finds the last 29 February across a
/// century that skips a leap year. `None` for a date no year has.
fn infer_year(month: u32, day: u32, hour: u32, minute: u32, now: Timestamp) -> Option<Timestamp> {
    let latest = now.seconds.saturating_add(86_400);
    let this_year = now.to_civil().year;
    (this_year - 8..=this_year + 1)
        .rev()
        .filter_map(|year| Civil::new(year, month, day, hour, minute, 0).to_timestamp())
        .find(|t| t.seconds <= latest)
}

/// The DOS/IIS form: `MM-DD-YY[YY]  HH:MM[AM|PM]  (<DIR>|SIZE)  name`.
fn parse_dos<'a>(line: &'a [u8], tokens: &[(usize, usize)]) -> Option<Found<'a>> {
    let word = |i: usize| -> &'a [u8] { tokens.get(i).map_or(&[][..], |&(s, e)| &line[s..e]) };
    let date = word(0);
    let mut parts = date.split(|&b| b == b'-' || b == b'/');
    let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || m.len() != 2 || d.len() != 2 || !(y.len() == 2 || y.len() == 4) {
        return None;
    }
    let (month, day, year) = (small_number(m, 2)?, small_number(d, 2)?, small_number(y, 4)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let year = match (y.len(), year) {
        (4, year) => year,
        (_, yy @ 0..=68) => 2000 + yy,
        (_, yy) => 1900 + yy,
    };
    // `02:30PM`, `02:30 PM` or `14:30`.
    let time = word(1);
    let mut next = 2;
    let (clock, meridian) = match time.len().checked_sub(2).map(|at| time.split_at(at)) {
        Some((clock, suffix)) if suffix.eq_ignore_ascii_case(b"AM") || suffix.eq_ignore_ascii_case(b"PM") => {
            (clock, Some(suffix[0].to_ascii_uppercase()))
        }
        _ => {
            let after = word(2);
            if after.eq_ignore_ascii_case(b"AM") || after.eq_ignore_ascii_case(b"PM") {
                next = 3;
                (time, Some(after[0].to_ascii_uppercase()))
            } else {
                (time, None)
            }
        }
    };
    let (hour, minute) = hour_minute(clock)?;
    let hour = match meridian {
        None => hour,
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some(b'A') => hour % 12,
        Some(_) => hour % 12 + 12,
    };
    let what = word(next);
    let (kind, size) = if what.eq_ignore_ascii_case(b"<DIR>") {
        (Kind::Directory, None)
    } else {
        // Windows `dir` groups digits with commas; IIS does not, but allow it.
        let digits: Vec<u8> = what.iter().copied().filter(|&b| b != b',').collect();
        (Kind::File, Some(parse_u64(&digits)?))
    };
    // The name is the rest of the line after the blanks that follow.
    let &(_, end) = tokens.get(next)?;
    let start = end + line[end..].iter().position(|&b| b != b' ' && b != b'\t')?;
    let modified = Civil::new(i64::from(year), month, day, hour, minute, 0).to_timestamp();
    Some(Found {
        name: &line[start..],
        kind,
        size,
        modified,
        modified_approximate: true,
        permissions: None,
        target: None,
    })
}

// ============================================================ time

/// A point in time, UTC: seconds since 1970-01-01T00:00:00Z and nanoseconds
/// (always below 1 000 000 000). Ordered by time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds since the Unix epoch (negative before 1970).
    pub seconds: i64,
    /// Fraction of the second, in nanoseconds.
    pub nanoseconds: u32,
}

impl Timestamp {
    /// The system clock, now.
    pub fn now() -> Timestamp {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(after) => Timestamp { seconds: after.as_secs() as i64, nanoseconds: after.subsec_nanos() },
            Err(e) => {
                let before = e.duration();
                let mut t = Timestamp { seconds: -(before.as_secs() as i64), nanoseconds: 0 };
                if before.subsec_nanos() > 0 {
                    t.seconds -= 1;
                    t.nanoseconds = 1_000_000_000 - before.subsec_nanos();
                }
                t
            }
        }
    }

    /// The calendar date and time of this instant, UTC.
    pub fn to_civil(self) -> Civil {
        let days = self.seconds.div_euclid(86_400);
        let secs = self.seconds.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
            nanosecond: self.nanoseconds,
        }
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339, e.g. `2024-01-15T14:30:00Z` (with a fraction when there is one).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.to_civil();
        write!(f, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", c.year, c.month, c.day, c.hour, c.minute, c.second)?;
        if c.nanosecond > 0 {
            write!(f, ".{:09}", c.nanosecond)?;
        }
        f.write_str("Z")
    }
}

/// A calendar date and time of day, UTC, in the proleptic Gregorian
/// calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// The year (astronomical: 0 is 1 BC).
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59 (60 accepted by [`Civil::to_timestamp`] for a leap second).
    pub second: u32,
    /// 0 to 999 999 999.
    pub nanosecond: u32,
}

/// Years [`Civil::to_timestamp`] accepts: far beyond any file time, and far
/// from where the seconds would overflow an `i64`.
const MAX_ABS_YEAR: i64 = 1_000_000;

impl Civil {
    /// A date and time with no fraction of a second.
    pub fn new(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Civil {
        Civil { year, month, day, hour, minute, second, nanosecond: 0 }
    }

    /// The instant, or `None` if this is no valid date and time (month 13,
    /// 30 February, hour 24, a year beyond ±1 000 000). A leap second (`:60`)
    /// is taken as the first second of the next minute.
    pub fn to_timestamp(&self) -> Option<Timestamp> {
        let valid = self.year.abs() <= MAX_ABS_YEAR
            && (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && self.hour <= 23
            && self.minute <= 59
            && self.second <= 60
            && self.nanosecond < 1_000_000_000;
        if !valid {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let seconds = days * 86_400 + i64::from(self.hour * 3600 + self.minute * 60 + self.second);
        Some(Timestamp { seconds, nanoseconds: self.nanosecond })
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to `year-month-day` (negative before), in the
/// proleptic Gregorian calendar: Howard Hinnant's `days_from_civil`
/// (<https://howardhinnant.github.io/date_algorithms.html>). `month` 1–12 and
/// `day` 1–31 are assumed, not checked; years far beyond ±10^12 overflow
/// (use [`Civil::to_timestamp`] for checked input).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Years start in March, so the leap day is the last day of a year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = i64::from((month + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month, day)` of a day count.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// RFC 3659 `time-val`: `YYYYMMDDHHMMSS[.F...]`, UTC. Fraction digits past
/// nanoseconds are ignored.
fn parse_time_val(text: &str) -> Option<Timestamp> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let b = whole.as_bytes();
    if b.len() != 14 {
        return None;
    }
    let n = |range: std::ops::Range<usize>| small_number(&b[range.clone()], range.len());
    let mut civil = Civil::new(i64::from(n(0..4)?), n(4..6)?, n(6..8)?, n(8..10)?, n(10..12)?, n(12..14)?);
    if let Some(fraction) = fraction {
        let digits = fraction.as_bytes();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut nanos = 0;
        for i in 0..9 {
            nanos = nanos * 10 + digits.get(i).map_or(0, |d| u32::from(d - b'0'));
        }
        civil.nanosecond = nanos;
    }
    civil.to_timestamp()
}

/// The time in an `MDTM` reply (RFC 3659 §3): `213 YYYYMMDDHHMMSS[.fff]`,
/// UTC. Takes the whole reply text or just what follows the code.
pub fn parse_mdtm(reply: &str) -> Option<Timestamp> {
    let text = reply.trim();
    let text = text.strip_prefix("213").map_or(text, |rest| rest.trim_start_matches([' ', '-']));
    parse_time_val(text.split_whitespace().next()?)
}

/// The time argument of `MFMT` (`MFMT YYYYMMDDHHMMSS path`), UTC, to the
/// second: the fraction is dropped, since servers differ on whether they take
/// one. `None` outside years 0000–9999, which the format cannot express.
pub fn format_mfmt(time: Timestamp) -> Option<String> {
    let c = time.to_civil();
    if !(0..=9999).contains(&c.year) {
        return None;
    }
    Some(format!("{:04}{:02}{:02}{:02}{:02}{:02}", c.year, c.month, c.day, c.hour, c.minute, c.second))
}

// ============================================================ reading

/// The caps on one listing, each enforced while the listing arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Most entries (lines that list something) accepted.
    pub max_entries: usize,
    /// Most bytes read from the data connection.
    pub max_bytes: u64,
    /// Longest line, without its line end.
    pub max_line_bytes: usize,
}

impl Caps {
    /// `max_entries` and `max_bytes`, with lines capped at [`MAX_LIST_LINE_BYTES`].
    pub fn new(max_entries: usize, max_bytes: u64) -> Caps {
        Caps { max_entries, max_bytes, max_line_bytes: MAX_LIST_LINE_BYTES }
    }
}

/// Which cap a listing passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// [`Caps::max_entries`].
    Entries,
    /// [`Caps::max_bytes`].
    Bytes,
    /// [`Caps::max_line_bytes`].
    LineBytes,
}

/// Why reading a listing stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReadLinesError<E> {
    /// The listing passed a cap; reading stopped there.
    #[error("{}", too_large(*cap, *limit))]
    TooLarge {
        /// Which cap.
        cap: Cap,
        /// Its value.
        limit: u64,
    },
    /// The data connection failed.
    #[error("reading the listing: {0}")]
    Io(#[source] std::io::Error),
    /// The byte callback refused more bytes (e.g. the run's byte budget is spent).
    #[error("{0}")]
    Budget(E),
}

fn too_large(cap: Cap, limit: u64) -> String {
    match cap {
        Cap::Entries => format!("the listing has more than {limit} entries"),
        Cap::Bytes => format!("the listing is larger than {limit} bytes"),
        Cap::LineBytes => format!("a line of the listing is longer than {limit} bytes"),
    }
}

/// Read `reader` to its end line by line (LF or CR LF; a last line without
/// one counts), calling `on_line` with each non-empty line, line end removed.
/// `on_line` says whether the line was an entry; entries count towards
/// [`Caps::max_entries`]. Returns the number of entries.
///
/// Stops at once, with [`ReadLinesError::TooLarge`], when the bytes read
/// pass [`Caps::max_bytes`] (it reads at most one byte more), a line passes
/// [`Caps::max_line_bytes`] (it holds at most one byte more of it) or the
/// entries pass [`Caps::max_entries`]. Every read's byte count goes to
/// `on_bytes` first; an `Err` from it stops reading with
/// [`ReadLinesError::Budget`]. Memory: one read chunk and one line.
pub async fn for_each_line<R, E>(
    reader: &mut R,
    caps: Caps,
    mut on_bytes: impl FnMut(u64) -> Result<(), E>,
    mut on_line: impl FnMut(&[u8]) -> bool,
) -> Result<usize, ReadLinesError<E>>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut chunk = vec![0u8; READ_CHUNK];
    // The start of a line whose end has not arrived yet. One byte past the
    // cap is allowed: it may be the CR of a CR LF.
    let mut pending: Vec<u8> = Vec::new();
    let pending_cap = caps.max_line_bytes.saturating_add(1);
    let mut total: u64 = 0;
    let mut entries: usize = 0;
    let mut line_done = |line: &[u8], entries: &mut usize| -> Result<(), ReadLinesError<E>> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > caps.max_line_bytes {
            return Err(ReadLinesError::TooLarge { cap: Cap::LineBytes, limit: caps.max_line_bytes as u64 });
        }
        if !line.is_empty() && on_line(line) {
            *entries += 1;
            if *entries > caps.max_entries {
                return Err(ReadLinesError::TooLarge { cap: Cap::Entries, limit: caps.max_entries as u64 });
            }
        }
        Ok(())
    };
    loop {
        // Never ask for more than one byte past the byte cap: that byte is
        // the proof the cap was passed.
        let room = caps.max_bytes.saturating_sub(total).saturating_add(1).min(READ_CHUNK as u64) as usize;
        let n = reader.read(&mut chunk[..room]).await.map_err(ReadLinesError::Io)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        on_bytes(n as u64).map_err(ReadLinesError::Budget)?;
        if total > caps.max_bytes {
            return Err(ReadLinesError::TooLarge { cap: Cap::Bytes, limit: caps.max_bytes });
        }
        let mut rest = &chunk[..n];
        while let Some(lf) = rest.iter().position(|&b| b == b'\n') {
            let piece = &rest[..lf];
            rest = &rest[lf + 1..];
            if pending.is_empty() {
                line_done(piece, &mut entries)?;
            } else {
                if pending.len() + piece.len() > pending_cap {
                    return Err(ReadLinesError::TooLarge { cap: Cap::LineBytes, limit: caps.max_line_bytes as u64 });
                }
                pending.extend_from_slice(piece);
                line_done(&pending, &mut entries)?;
                pending.clear();
            }
        }
        if pending.len() + rest.len() > pending_cap {
            return Err(ReadLinesError::TooLarge { cap: Cap::LineBytes, limit: caps.max_line_bytes as u64 });
        }
        pending.extend_from_slice(rest);
    }
    if !pending.is_empty() {
        line_done(&pending, &mut entries)?;
    }
    Ok(entries)
}

/// [`for_each_line`] collecting the lines: every non-empty line is an entry
/// (`NLST` output, say).
pub async fn read_lines<R, E>(
    reader: &mut R,
    caps: Caps,
    on_bytes: impl FnMut(u64) -> Result<(), E>,
) -> Result<Vec<Vec<u8>>, ReadLinesError<E>>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut lines = Vec::new();
    for_each_line(reader, caps, on_bytes, |line| {
        lines.push(line.to_vec());
        true
    })
    .await?;
    Ok(lines)
}

/// [`for_each_line`] parsing each line as `format` says ([`parse_line`]):
/// the entries, in the server's order. Only lines that give an entry count
/// towards [`Caps::max_entries`].
pub async fn read_listing<R, E>(
    reader: &mut R,
    caps: Caps,
    format: ListFormat,
    now: Timestamp,
    on_bytes: impl FnMut(u64) -> Result<(), E>,
) -> Result<Vec<Entry>, ReadLinesError<E>>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut entries = Vec::new();
    for_each_line(reader, caps, on_bytes, |line| match parse_line(format, line, now) {
        Some(entry) => {
            entries.push(entry);
            true
        }
        None => false,
    })
    .await?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncWriteExt, ReadBuf};

    use super::*;

    fn ts(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Timestamp {
        Civil::new(year, month, day, hour, minute, second).to_timestamp().expect("a valid date")
    }

    /// When the listings below were captured from the real servers.
    fn captured() -> Timestamp {
        ts(2026, 12, 1, 22, 21, 0)
    }

    struct Want {
        name: &'static str,
        kind: Kind,
        size: Option<u64>,
        modified: Option<Timestamp>,
        permissions: Option<&'static str>,
        target: Option<&'static str>,
    }

    fn want(name: &'static str, kind: Kind, size: Option<u64>, modified: Option<Timestamp>) -> Want {
        Want { name, kind, size, modified, permissions: None, target: None }
    }

    impl Want {
        fn perms(mut self, p: &'static str) -> Self {
            self.permissions = Some(p);
            self
        }
        fn target(mut self, t: &'static str) -> Self {
            self.target = Some(t);
            self
        }
        fn check(&self, got: Option<Entry>, approximate: bool, line: &[u8]) {
            let line = String::from_utf8_lossy(line);
            let got = got.unwrap_or_else(|| panic!("no entry from {line:?}"));
            let expected = Entry {
                name: self.name.to_string(),
                name_was_lossy: self.name.contains('\u{fffd}'),
                kind: self.kind,
                size: self.size,
                modified: self.modified,
                modified_approximate: approximate && self.modified.is_some(),
                permissions: self.permissions.map(String::from),
                target: self.target.map(String::from),
            };
            assert_eq!(got, expected, "from {line:?}");
        }
    }

    fn check_list(line: &[u8], now: Timestamp, want: Want) {
        want.check(parse_list_line(line, now), true, line);
    }

    fn check_mlsd(line: &[u8], want: Want) {
        want.check(parse_mlsx(line), false, line);
    }

    // ------------------------------------------------------------ time

    #[test]
    fn civil_dates_convert_both_ways() {
        assert_eq!(ts(1970, 1, 1, 0, 0, 0).seconds, 0);
        assert_eq!(ts(1969, 12, 31, 23, 59, 59).seconds, -1);
        assert_eq!(ts(2000, 3, 1, 0, 0, 0).seconds, 951_868_800);
        assert_eq!(ts(2024, 2, 29, 12, 0, 0).seconds, 1_709_208_000);
        assert_eq!(ts(1900, 1, 1, 0, 0, 0).seconds, -2_208_988_800);
        assert_eq!(ts(9999, 12, 31, 23, 59, 59).seconds, 253_402_300_799);
        assert_eq!(ts(0, 1, 1, 0, 0, 0).seconds, -62_167_219_200);
        // Every day over ±2000 years: consecutive day numbers are consecutive dates.
        let mut previous = civil_from_days(-730_000);
        assert_eq!(days_from_civil(previous.0, previous.1, previous.2), -730_000);
        for days in -729_999..730_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            let expected = match previous {
                (y, m, d) if d < days_in_month(y, m) => (y, m, d + 1),
                (y, 12, _) => (y + 1, 1, 1),
                (y, m, _) => (y, m + 1, 1),
            };
            assert_eq!((y, m, d), expected, "the day after {previous:?}");
            previous = (y, m, d);
        }
        let t = Timestamp { seconds: 1_709_208_000 + 3723, nanoseconds: 5 };
        assert_eq!(
            t.to_civil(),
            Civil { year: 2024, month: 2, day: 29, hour: 13, minute: 2, second: 3, nanosecond: 5 }
        );
        assert_eq!(t.to_civil().to_timestamp(), Some(t));
        assert_eq!(Timestamp { seconds: -1, nanoseconds: 0 }.to_civil(), Civil::new(1969, 12, 31, 23, 59, 59));
        assert_eq!(t.to_string(), "2024-02-29T13:02:03.000000005Z");
        assert_eq!(ts(2026, 12, 1, 22, 21, 0).to_string(), "2026-12-01T22:21:00Z");
    }

    #[test]
    fn invalid_civil_dates_have_no_timestamp() {
        for c in [
            Civil::new(2023, 2, 29, 0, 0, 0),
            Civil::new(1900, 2, 29, 0, 0, 0),
            Civil::new(2024, 4, 31, 0, 0, 0),
            Civil::new(2024, 13, 1, 0, 0, 0),
            Civil::new(2024, 0, 1, 0, 0, 0),
            Civil::new(2024, 1, 0, 0, 0, 0),
            Civil::new(2024, 1, 1, 24, 0, 0),
            Civil::new(2024, 1, 1, 0, 60, 0),
            Civil::new(2024, 1, 1, 0, 0, 61),
            Civil::new(MAX_ABS_YEAR + 1, 1, 1, 0, 0, 0),
            Civil { nanosecond: 1_000_000_000, ..Civil::new(2024, 1, 1, 0, 0, 0) },
        ] {
            assert_eq!(c.to_timestamp(), None, "{c:?}");
        }
        assert!(Civil::new(2000, 2, 29, 0, 0, 0).to_timestamp().is_some());
        // A leap second is the next minute's first.
        assert_eq!(Civil::new(2016, 12, 31, 23, 59, 60).to_timestamp(), Some(ts(2017, 1, 1, 0, 0, 0)));
    }

    #[test]
    fn now_is_after_this_code_was_written() {
        assert!(Timestamp::now() > ts(2026, 1, 1, 0, 0, 0));
        assert!(Timestamp::now().nanoseconds < 1_000_000_000);
    }

    #[test]
    fn mdtm_replies() {
        // proftpd, pure-ftpd and vsftpd all answered this for one file.
        assert_eq!(parse_mdtm("213 20261201222022"), Some(ts(2026, 12, 1, 22, 20, 22)));
        assert_eq!(parse_mdtm("20261201222022\r\n"), Some(ts(2026, 12, 1, 22, 20, 22)));
        let fine = parse_mdtm("213 20261201222022.123").unwrap();
        assert_eq!((fine.seconds, fine.nanoseconds), (ts(2026, 12, 1, 22, 20, 22).seconds, 123_000_000));
        assert_eq!(parse_mdtm("213 19991231235959.1234567891").unwrap().nanoseconds, 123_456_789);
        for bad in [
            "",
            "213",
            "213 ",
            "213 2026120122202",
            "213 202612012220220",
            "213 20261301222022",
            "213 20260230000000",
            "213 2026120122202x",
            "213 20261201222022.",
            "213 20261201222022.1x",
            "550 hello.txt: No such file or directory",
            "213 +0261201222022",
            "213 ２０２６1201222022",
        ] {
            assert_eq!(parse_mdtm(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mfmt_arguments() {
        assert_eq!(format_mfmt(ts(2026, 12, 1, 22, 20, 22)).as_deref(), Some("20261201222022"));
        assert_eq!(format_mfmt(Timestamp { seconds: 0, nanoseconds: 999_999_999 }).as_deref(), Some("19700101000000"));
        assert_eq!(format_mfmt(ts(1, 2, 3, 4, 5, 6)).as_deref(), Some("00010203040506"));
        assert_eq!(format_mfmt(ts(10_000, 1, 1, 0, 0, 0)), None);
        assert_eq!(format_mfmt(ts(-1, 12, 31, 0, 0, 0)), None);
        assert_eq!(format_mfmt(Timestamp { seconds: i64::MAX, nanoseconds: 0 }), None);
        assert_eq!(format_mfmt(Timestamp { seconds: i64::MIN, nanoseconds: 0 }), None);
        for seconds in [-62_167_219_200, -1, 0, 951_868_800, 1_709_208_000, 253_402_300_799] {
            let t = Timestamp { seconds, nanoseconds: 0 };
            assert_eq!(parse_mdtm(&format!("213 {}", format_mfmt(t).unwrap())), Some(t));
        }
    }

    // ------------------------------------------------------------ MLSD

    #[test]
    fn proftpd_mlsd() {
        // ProFTPD 1.3.8, `MLSD` of a directory with every kind of entry.
        let ls = ts(2026, 12, 1, 22, 20, 22);
        let tail = b";unique=FE00U98C4F1;UNIX.group=65534;UNIX.groupname=nogroup;UNIX.mode=0644;UNIX.owner=65534;UNIX.ownername=u;";
        check_mlsd(
            &[&b"modify=20261201222022;perm=adfrw;size=6;type=file"[..], tail, b" hello.txt\r\n"].concat(),
            want("hello.txt", Kind::File, Some(6), Some(ls)).perms("adfrw"),
        );
        check_mlsd(
            b"modify=20261201222022;perm=flcdmpe;type=dir;unique=FE00U98C4F2;UNIX.group=65534;UNIX.groupname=nogroup;UNIX.mode=0755;UNIX.owner=65534;UNIX.ownername=u; sub",
            want("sub", Kind::Directory, None, Some(ls)).perms("flcdmpe"),
        );
        check_mlsd(
            b"modify=20261201222022;perm=adfrw;size=9;type=OS.unix=symlink;unique=FE00U98C4F1;UNIX.group=65534;UNIX.groupname=nogroup;UNIX.mode=0777;UNIX.owner=65534;UNIX.ownername=u; link",
            want("link", Kind::Symlink, Some(9), Some(ls)).perms("adfrw"),
        );
        check_mlsd(
            b"modify=20261201222022;perm=adfrw;size=2;type=file;unique=FE00U98C4F4;UNIX.group=65534;UNIX.groupname=nogroup;UNIX.mode=0644;UNIX.owner=65534;UNIX.ownername=u; name with  spaces.txt",
            want("name with  spaces.txt", Kind::File, Some(2), Some(ls)).perms("adfrw"),
        );
        check_mlsd(
            b"modify=20261201222022;perm=adfrw;size=0;type=file;unique=FE00U98C4F8;UNIX.group=65534;UNIX.groupname=nogroup;UNIX.mode=0644;UNIX.owner=65534;UNIX.ownername=u; caf\xe9.txt",
            want("caf\u{fffd}.txt", Kind::File, Some(0), Some(ls)).perms("adfrw"),
        );
        check_mlsd(
            b"modify=20190310142200;perm=adfrw;size=0;type=file;unique=FE00U98C4F5;UNIX.group=65534;UNIX.groupname=nogroup;UNIX.mode=0644;UNIX.owner=65534;UNIX.ownername=u; old.tar.gz",
            want("old.tar.gz", Kind::File, Some(0), Some(ts(2019, 3, 10, 14, 22, 0))).perms("adfrw"),
        );
        for dot in [
            &b"modify=20261201222023;perm=flcdmpe;type=cdir;unique=FE00U98C4F0;UNIX.group=65534;UNIX.groupname=nogroup;UNIX.mode=0755;UNIX.owner=65534;UNIX.ownername=u; ."[..],
            b"modify=20261201222023;perm=flcdmpe;type=pdir;unique=FE00U98C4F0;UNIX.group=65534;UNIX.groupname=nogroup;UNIX.mode=0755;UNIX.owner=65534;UNIX.ownername=u; ..",
        ] {
            assert_eq!(parse_mlsx(dot), None);
        }
    }

    #[test]
    fn pure_ftpd_mlsd() {
        // pure-ftpd 1.0.50, the same directory.
        let ls = ts(2026, 12, 1, 22, 20, 22);
        check_mlsd(
            b"type=file;size=6;modify=20261201222022;UNIX.mode=0644;UNIX.uid=65534;UNIX.gid=65534;unique=fe00g98c4f1; hello.txt",
            want("hello.txt", Kind::File, Some(6), Some(ls)).perms("rw-r--r--"),
        );
        check_mlsd(
            b"type=dir;sizd=4096;modify=20261201222022;UNIX.mode=0755;UNIX.uid=65534;UNIX.gid=65534;unique=fe00g98c4f3; dir with spaces",
            want("dir with spaces", Kind::Directory, Some(4096), Some(ls)).perms("rwxr-xr-x"),
        );
        // pure-ftpd names no target.
        check_mlsd(
            b"type=OS.unix=slink:;size=19;modify=20261201222022;UNIX.mode=0777;UNIX.uid=65534;UNIX.gid=65534;unique=fe00g98c4f7; dangling",
            want("dangling", Kind::Symlink, Some(19), Some(ls)).perms("rwxrwxrwx"),
        );
        // A fifo and a device.
        check_mlsd(
            b"type=unknown;size=0;modify=20261201222023;UNIX.mode=0644;UNIX.uid=65534;UNIX.gid=65534;unique=fe00g98c4f9; pipe",
            want("pipe", Kind::Other, Some(0), Some(ts(2026, 12, 1, 22, 20, 23))).perms("rw-r--r--"),
        );
        assert_eq!(parse_mlsx(b"type=cdir;sizd=4096;modify=20261201222023;UNIX.mode=0755;UNIX.uid=65534;UNIX.gid=65534;unique=fe00g98c4f0; ."), None);
        assert_eq!(parse_mlsx(b"type=pdir;sizd=4096;modify=20261201222023;UNIX.mode=0755;UNIX.uid=65534;UNIX.gid=65534;unique=fe00g98c4f0; .."), None);
    }

    #[test]
    fn mlst_and_other_fact_lines() {
        // The fact line of an `MLST /home/u/hello.txt` reply: indented, with the path.
        check_mlsd(
            b" modify=20261201222022;perm=adfrw;size=6;type=file;UNIX.mode=0644; /home/u/hello.txt\r\n",
            want("hello.txt", Kind::File, Some(6), Some(ts(2026, 12, 1, 22, 20, 22))).perms("adfrw"),
        );
        // IIS with MLSD, capitalised facts and values, a fraction of a second.
        check_mlsd(
            b"Type=File;Size=1234;Modify=20240215154700.123; Report 2024.xlsx",
            Want {
                modified: Some(Timestamp { nanoseconds: 123_000_000, ..ts(2024, 2, 15, 15, 47, 0) }),
                ..want("Report 2024.xlsx", Kind::File, Some(1234), None)
            },
        );
        check_mlsd(b"type=OS.unix=slink:/srv/data;modify=20240215154700; data", {
            want("data", Kind::Symlink, None, Some(ts(2024, 2, 15, 15, 47, 0))).target("/srv/data")
        });
        // Setuid, setgid and sticky bits; a mode out of range is ignored.
        check_mlsd(b"type=file;UNIX.mode=4755; su", want("su", Kind::File, None, None).perms("rwsr-xr-x"));
        check_mlsd(b"type=dir;UNIX.mode=3770; shared", want("shared", Kind::Directory, None, None).perms("rwxrws--T"));
        check_mlsd(b"type=file;UNIX.mode=99999; x", want("x", Kind::File, None, None));
        check_mlsd(b"type=OS.unix=slink:/a;type=dir; x", want("x", Kind::Directory, None, None));
        // Malformed values are dropped, not the entry.
        check_mlsd(b"type=file;size=-1;modify=2024;perm=r; x", want("x", Kind::File, None, None).perms("r"));
        // Facts without a type.
        check_mlsd(b"size=5; x", want("x", Kind::Other, Some(5), None));
        // A hostile server's name with a directory part keeps only the last part.
        check_mlsd(b"type=file; ../../etc/passwd", want("passwd", Kind::File, None, None));
        check_mlsd(b"type=dir; sub/", want("sub", Kind::Directory, None, None));
        // Some servers name `cdir` and `pdir` by their paths.
        let nothing: [&[u8]; 9] = [
            b"",
            b"\r\n",
            b"   ",
            b"type=file; .",
            b"type=file; ..",
            b"type=dir; /",
            b"type=file; a/..",
            b"type=cdir;modify=20240101000000; /home/u",
            b"type=pdir;perm=el; /home",
        ];
        for nothing in nothing {
            assert_eq!(parse_mlsx(nothing), None, "{:?}", String::from_utf8_lossy(nothing));
        }
    }

    #[test]
    fn mlst_replies() {
        // ProFTPD 1.3.8 and pure-ftpd 1.0.50, `MLST hello.txt`, `MLST sub`, `MLST link`.
        let proftpd = "250-Start of list for hello.txt\r\n modify=20261201222022;perm=adfrw;size=6;type=file;unique=FE00U98C4F1;UNIX.group=65534;UNIX.groupname=nogroup;UNIX.mode=0644;UNIX.owner=65534;UNIX.ownername=u; /hello.txt\r\n250 End of list\r\n";
        let e = parse_mlst(proftpd).unwrap();
        assert_eq!(
            (e.name.as_str(), e.kind, e.size, e.modified),
            ("hello.txt", Kind::File, Some(6), Some(ts(2026, 12, 1, 22, 20, 22)))
        );
        let e =
            parse_mlst(" modify=20261201222022;perm=flcdmpe;type=dir;unique=FE00U98C4F2;UNIX.mode=0755; /sub").unwrap();
        assert_eq!((e.name.as_str(), e.kind), ("sub", Kind::Directory));
        let pure = "250-Begin\n type=OS.unix=slink:;size=9;modify=20261201222022;UNIX.mode=0777;UNIX.uid=65534;UNIX.gid=65534;unique=fe00g98c4f6; link\n250 End.";
        let e = parse_mlst(pure).unwrap();
        assert_eq!((e.name.as_str(), e.kind, e.permissions.as_deref()), ("link", Kind::Symlink, Some("rwxrwxrwx")));
        // The current directory and the root are directories, named as given.
        let e = parse_mlst("250-Listing .\r\n type=cdir;modify=20240101000000; .\r\n250 End").unwrap();
        assert_eq!((e.name.as_str(), e.kind), (".", Kind::Directory));
        let e = parse_mlst(" type=pdir;perm=el; /").unwrap();
        assert_eq!((e.name.as_str(), e.kind, e.permissions.as_deref()), ("/", Kind::Directory, Some("el")));
        for nothing in ["", "250 End", "250-Start\r\n250 End", "550 /x: No such file or directory", " no facts"] {
            assert_eq!(parse_mlst(nothing), None, "{nothing:?}");
        }
    }

    #[test]
    fn lines_that_are_not_fact_lines_are_other_entries() {
        for line in [
            &b"hello.txt"[..],
            b"-rw-r--r--   1 u        nogroup         6 Dec  1 22:20 hello.txt",
            b"no facts here",
            b"size 5",
        ] {
            assert_eq!(parse_mlsx(line), Some(Entry::other(line)), "{:?}", String::from_utf8_lossy(line));
        }
        let raw = parse_mlsx(b"\xff\xfe junk\r\n").unwrap();
        assert_eq!((raw.name.as_str(), raw.name_was_lossy, raw.kind), ("\u{fffd}\u{fffd} junk", true, Kind::Other));
    }

    // ------------------------------------------------------------ LIST, Unix

    #[test]
    fn vsftpd_list() {
        // vsFTPd 3.0.3: numeric owners, zero-padded days, a year for a date in the future.
        let now = captured();
        let ls = ts(2026, 12, 1, 22, 20, 0);
        let lines: [(&[u8], Want); 9] = [
            (
                b"-rw-r--r--    1 65534    65534     3145728 Dec 01 22:20 big.bin\r\n",
                want("big.bin", Kind::File, Some(3_145_728), Some(ls)).perms("rw-r--r--"),
            ),
            (
                b"-rw-r--r--    1 65534    65534           0 Dec 01 22:20 caf\xe9.txt",
                want("caf\u{fffd}.txt", Kind::File, Some(0), Some(ls)).perms("rw-r--r--"),
            ),
            (
                b"lrwxrwxrwx    1 65534    65534          19 Dec 01 22:20 dangling -> /nonexistent/target",
                want("dangling", Kind::Symlink, Some(19), Some(ls)).perms("rwxrwxrwx").target("/nonexistent/target"),
            ),
            (
                b"drwxr-xr-x    2 65534    65534        4096 Dec 01 22:20 dir with spaces",
                want("dir with spaces", Kind::Directory, Some(4096), Some(ls)).perms("rwxr-xr-x"),
            ),
            (
                b"-rw-r--r--    1 65534    65534           0 Dec 02  2026 future.txt",
                want("future.txt", Kind::File, Some(0), Some(ts(2026, 12, 2, 0, 0, 0))).perms("rw-r--r--"),
            ),
            (
                b"-rw-r--r--    1 65534    65534           2 Dec 01 22:20 name with  spaces.txt",
                want("name with  spaces.txt", Kind::File, Some(2), Some(ls)).perms("rw-r--r--"),
            ),
            (
                b"crw-r--r--    1 65534    65534           0 Dec 01 22:20 null",
                want("null", Kind::Other, Some(0), Some(ls)).perms("rw-r--r--"),
            ),
            (
                b"-rw-r--r--    1 65534    65534           0 Mar 10  2019 old.tar.gz",
                want("old.tar.gz", Kind::File, Some(0), Some(ts(2019, 3, 10, 0, 0, 0))).perms("rw-r--r--"),
            ),
            (
                b"prw-r--r--    1 65534    65534           0 Dec 01 22:20 pipe",
                want("pipe", Kind::Other, Some(0), Some(ls)).perms("rw-r--r--"),
            ),
        ];
        for (line, want) in lines {
            check_list(line, now, want);
        }
        // `LIST -a`.
        assert_eq!(parse_list_line(b"dr-xr-xr-x    4 65534    65534        4096 Dec 01 22:20 .", now), None);
        assert_eq!(parse_list_line(b"dr-xr-xr-x    4 65534    65534        4096 Dec 01 22:20 ..", now), None);
    }

    #[test]
    fn proftpd_list() {
        // ProFTPD 1.3.8: named owners, space-padded days, a time for a date 3 hours ahead.
        let now = captured();
        let ls = ts(2026, 12, 1, 22, 20, 0);
        check_list(
            b"-rw-r--r--   1 u        nogroup         6 Dec  1 22:20 hello.txt\r\n",
            now,
            want("hello.txt", Kind::File, Some(6), Some(ls)).perms("rw-r--r--"),
        );
        check_list(
            b"lrwxrwxrwx   1 u        nogroup         9 Dec  1 22:20 link -> hello.txt",
            now,
            want("link", Kind::Symlink, Some(9), Some(ls)).perms("rwxrwxrwx").target("hello.txt"),
        );
        check_list(
            b"-rw-r--r--   1 u        nogroup         0 Dec  2 01:20 future.txt",
            now,
            want("future.txt", Kind::File, Some(0), Some(ts(2026, 12, 2, 1, 20, 0))).perms("rw-r--r--"),
        );
        check_list(
            b"-rw-r--r--   1 u        nogroup         0 Mar 10  2019 old.tar.gz",
            now,
            want("old.tar.gz", Kind::File, Some(0), Some(ts(2019, 3, 10, 0, 0, 0))).perms("rw-r--r--"),
        );
        check_list(
            b"-rw-r--r--   1 u        nogroup         0 Dec  1 22:20 caf\xe9.txt",
            now,
            want("caf\u{fffd}.txt", Kind::File, Some(0), Some(ls)).perms("rw-r--r--"),
        );
        check_list(
            b"drwxr-xr-x   2 u        nogroup      4096 Dec  1 22:20 sub",
            now,
            want("sub", Kind::Directory, Some(4096), Some(ls)).perms("rwxr-xr-x"),
        );
        assert_eq!(parse_list_line(b"drwxr-xr-x   4 u        nogroup      4096 Dec  1 22:20 .", now), None);
    }

    #[test]
    fn pure_ftpd_list() {
        // pure-ftpd 1.0.50: numeric owner, named group, wide columns.
        let now = captured();
        let ls = ts(2026, 12, 1, 22, 20, 0);
        check_list(
            b"-rw-r--r--    1 65534      nogroup       3145728 Dec  1 22:20 big.bin",
            now,
            want("big.bin", Kind::File, Some(3_145_728), Some(ls)).perms("rw-r--r--"),
        );
        check_list(
            b"lrwxrwxrwx    1 65534      nogroup            19 Dec  1 22:20 dangling -> /nonexistent/target",
            now,
            want("dangling", Kind::Symlink, Some(19), Some(ls)).perms("rwxrwxrwx").target("/nonexistent/target"),
        );
        check_list(
            b"drwxr-xr-x    2 65534      nogroup          4096 Dec  1 22:20 dir with spaces",
            now,
            want("dir with spaces", Kind::Directory, Some(4096), Some(ls)).perms("rwxr-xr-x"),
        );
        check_list(
            b"-rw-r--r--    1 65534      nogroup             2 Dec  1 22:20 name with  spaces.txt",
            now,
            want("name with  spaces.txt", Kind::File, Some(2), Some(ls)).perms("rw-r--r--"),
        );
        assert_eq!(parse_list_line(b"drwxr-xr-x    4 65534      nogroup          4096 Dec  1 22:20 ..", now), None);
    }

    #[test]
    fn ls_devices_totals_and_odd_columns() {
        let now = captured();
        // GNU ls: `total`, and `major, minor` in place of a size.
        assert_eq!(parse_list_line(b"total 0", now), None);
        assert_eq!(parse_list_line(b"total 123456\r\n", now), None);
        check_list(
            b"crw-rw-rw- 1 root root 1, 3 Dec  1 02:57 null",
            now,
            want("null", Kind::Other, None, Some(ts(2026, 12, 1, 2, 57, 0))).perms("rw-rw-rw-"),
        );
        check_list(
            b"crw-r--r-- 1 root root  10, 235 Dec  1 02:57 autofs",
            now,
            want("autofs", Kind::Other, None, Some(ts(2026, 12, 1, 2, 57, 0))).perms("rw-r--r--"),
        );
        check_list(
            b"brw-rw---- 1 root disk 8,0 Jan 10  2025 sda",
            now,
            want("sda", Kind::Other, None, Some(ts(2025, 1, 10, 0, 0, 0))).perms("rw-rw----"),
        );
        // No group column (ftpparse's sample), an ACL marker, an owner named like a month.
        check_list(
            b"dr-xr-xr-x   2 root                  512 Apr  8  1994 03-unix-nogroup dir",
            now,
            want("03-unix-nogroup dir", Kind::Directory, Some(512), Some(ts(1994, 4, 8, 0, 0, 0))).perms("r-xr-xr-x"),
        );
        check_list(
            b"-rw-r--r--+  1 jan      dec          12 Feb  3 04:05 acl.txt",
            now,
            want("acl.txt", Kind::File, Some(12), Some(ts(2026, 2, 3, 4, 5, 0))).perms("rw-r--r--"),
        );
        check_list(
            b"-rw-r--r--   1 Jan      12         12 Feb  3  2020 feb.txt",
            now,
            want("feb.txt", Kind::File, Some(12), Some(ts(2020, 2, 3, 0, 0, 0))).perms("rw-r--r--"),
        );
        // A name that looks like a date, and one with an arrow that is no symlink.
        check_list(
            b"-rw-r--r--   1 u g 7 Jan  5 10:00 Jan 5 10:00 notes",
            now,
            want("Jan 5 10:00 notes", Kind::File, Some(7), Some(ts(2026, 1, 5, 10, 0, 0))).perms("rw-r--r--"),
        );
        check_list(
            b"-rw-r--r--   1 u g 7 Jan  5 10:00 a -> b",
            now,
            want("a -> b", Kind::File, Some(7), Some(ts(2026, 1, 5, 10, 0, 0))).perms("rw-r--r--"),
        );
        // A name starting with a space keeps it.
        check_list(
            b"-rw-r--r--   1 u g 7 Jan  5 10:00  lead",
            now,
            want(" lead", Kind::File, Some(7), Some(ts(2026, 1, 5, 10, 0, 0))).perms("rw-r--r--"),
        );
        // `LIST dir/file` on servers that print the path.
        check_list(
            b"-rw-r--r--   1 u g 7 Jan  5 10:00 dir/file.txt",
            now,
            want("file.txt", Kind::File, Some(7), Some(ts(2026, 1, 5, 10, 0, 0))).perms("rw-r--r--"),
        );
        // An impossible date keeps the entry, without a time.
        check_list(
            b"-rw-r--r--   1 u g 7 Feb 31 10:00 x",
            now,
            want("x", Kind::File, Some(7), None).perms("rw-r--r--"),
        );
    }

    #[test]
    fn filezilla_server_list() {
        // FileZilla Server's own Unix-like format: `1 ftp ftp`, wide size column, zero-padded days.
        let now = captured();
        check_list(
            b"drwxr-xr-x 1 ftp ftp              0 Nov 28 09:15 Incoming",
            now,
            want("Incoming", Kind::Directory, Some(0), Some(ts(2026, 11, 28, 9, 15, 0))).perms("rwxr-xr-x"),
        );
        check_list(
            b"-rw-r--r-- 1 ftp ftp         123456 Nov 28 09:15 invoice 0042.pdf",
            now,
            want("invoice 0042.pdf", Kind::File, Some(123_456), Some(ts(2026, 11, 28, 9, 15, 0))).perms("rw-r--r--"),
        );
        check_list(
            b"-rw-r--r-- 1 ftp ftp     1073741824 Mar 05  2021 backup.zip",
            now,
            want("backup.zip", Kind::File, Some(1 << 30), Some(ts(2021, 3, 5, 0, 0, 0))).perms("rw-r--r--"),
        );
        check_list(
            b"-rw-r--r-- 1 ftp ftp              5 Dec 05 10:00 last-year.txt",
            now,
            want("last-year.txt", Kind::File, Some(5), Some(ts(2025, 12, 5, 10, 0, 0))).perms("rw-r--r--"),
        );
    }

    #[test]
    fn a_time_without_a_year_is_at_most_a_day_ahead() {
        let line = |date: &str| format!("-rw-r--r-- 1 u g 1 {date} f");
        let year_of = |date: &str, now: Timestamp| {
            parse_list_line(line(date).as_bytes(), now).unwrap().modified.map(|t| t.to_civil().year)
        };
        let now = captured(); // 2026-12-01T22:21Z
        assert_eq!(year_of("Dec  1 22:21", now), Some(2026));
        assert_eq!(year_of("Dec  2 22:21", now), Some(2026), "exactly a day ahead");
        assert_eq!(year_of("Dec  2 22:22", now), Some(2025), "more than a day ahead");
        assert_eq!(year_of("Jan  1 00:00", now), Some(2026));
        assert_eq!(year_of("Nov 30 23:59", now), Some(2026));
        // New Year's Eve, server in a time zone that is already in January.
        let eve = ts(2026, 12, 31, 23, 30, 0);
        assert_eq!(year_of("Jan  1 01:00", eve), Some(2027));
        assert_eq!(year_of("Dec 31 23:00", eve), Some(2026));
        // 29 February: the last year that had one.
        assert_eq!(year_of("Feb 29 12:00", ts(2027, 3, 1, 0, 0, 0)), Some(2024));
        assert_eq!(year_of("Feb 29 12:00", ts(2101, 3, 1, 0, 0, 0)), Some(2096));
        assert_eq!(year_of("Feb 29 12:00", ts(2028, 3, 1, 0, 0, 0)), Some(2028));
        // Every line with a time is approximate, as are years.
        let e = parse_list_line(line("Dec  1 22:21").as_bytes(), now).unwrap();
        assert_eq!((e.modified, e.modified_approximate), (Some(ts(2026, 12, 1, 22, 21, 0)), true));
    }

    // ------------------------------------------------------------ LIST, DOS

    #[test]
    fn iis_dos_list() {
        let now = captured();
        // IIS's MS-DOS style: `%m-%d-%y  %I:%M%p`, `<DIR>` or a 20-wide size column.
        check_list(
            b"11-28-26  09:15AM       <DIR>          aspnet_client\r\n",
            now,
            want("aspnet_client", Kind::Directory, None, Some(ts(2026, 11, 28, 9, 15, 0))),
        );
        check_list(
            b"11-28-26  03:47PM                 1234 web.config",
            now,
            want("web.config", Kind::File, Some(1234), Some(ts(2026, 11, 28, 15, 47, 0))),
        );
        check_list(
            b"02-14-24  12:05AM       <DIR>          Reports 2024",
            now,
            want("Reports 2024", Kind::Directory, None, Some(ts(2024, 2, 14, 0, 5, 0))),
        );
        check_list(
            b"02-14-24  12:05PM           1073741824 big file.bin",
            now,
            want("big file.bin", Kind::File, Some(1 << 30), Some(ts(2024, 2, 14, 12, 5, 0))),
        );
        check_list(
            b"06-29-95  03:05PM       <DIR>          muntemp",
            now,
            want("muntemp", Kind::Directory, None, Some(ts(1995, 6, 29, 15, 5, 0))),
        );
        check_list(
            b"01-01-69  01:00AM                    0 old",
            now,
            want("old", Kind::File, Some(0), Some(ts(1969, 1, 1, 1, 0, 0))),
        );
        check_list(
            b"12-31-68  11:59PM                    0 new",
            now,
            want("new", Kind::File, Some(0), Some(ts(2068, 12, 31, 23, 59, 0))),
        );
        // Four-digit years (IIS "FourDigitYears"), 24-hour times, a separate AM/PM.
        check_list(
            b"05-17-2007  07:58PM       <DIR>          muntemp",
            now,
            want("muntemp", Kind::Directory, None, Some(ts(2007, 5, 17, 19, 58, 0))),
        );
        check_list(
            b"09-09-2008  03:50AM                 1506 naxp11e.zip",
            now,
            want("naxp11e.zip", Kind::File, Some(1506), Some(ts(2008, 9, 9, 3, 50, 0))),
        );
        check_list(
            b"05-27-11  09:31       <DIR>          3",
            now,
            want("3", Kind::Directory, None, Some(ts(2011, 5, 27, 9, 31, 0))),
        );
        check_list(
            b"05-27-11  21:31                   12 late.txt",
            now,
            want("late.txt", Kind::File, Some(12), Some(ts(2011, 5, 27, 21, 31, 0))),
        );
        check_list(
            b"05-27-11  09:31 PM                12 spaced.txt",
            now,
            want("spaced.txt", Kind::File, Some(12), Some(ts(2011, 5, 27, 21, 31, 0))),
        );
        check_list(
            b"05-27-2011  09:31PM            1,234,567 commas.txt",
            now,
            want("commas.txt", Kind::File, Some(1_234_567), Some(ts(2011, 5, 27, 21, 31, 0))),
        );
        check_list(
            b"05-27-11  09:31AM                   12 caf\xe9 \xff.txt",
            now,
            want("caf\u{fffd} \u{fffd}.txt", Kind::File, Some(12), Some(ts(2011, 5, 27, 9, 31, 0))),
        );
        // An impossible date keeps the entry, without a time.
        check_list(b"02-30-24  09:31AM                   12 x", now, want("x", Kind::File, Some(12), None));
        assert_eq!(parse_list_line(b"05-27-11  09:31AM       <DIR>          .", now), None);
    }

    #[test]
    fn garbage_becomes_other_entries_named_by_the_line() {
        let now = captured();
        for line in [
            &b"hello.txt"[..],
            b"-rw-r--r--",
            b"-rw-r--r-- 1 u g 7 Jan  5 10:00",
            b"-rw-r--r-- 1 u g seven Jan  5 10:00 x",
            b"-rw-r--r-- 1 u g 7 Foo  5 10:00 x",
            b"-rw-r--r-- 1 u g 7 Jan 32 10:00 x",
            b"-rw-r--r-- 1 u g 7 Jan  5 25:00 x",
            b"-rwxrwxrwxq 1 u g 7 Jan  5 10:00 x",
            b"xrw-r--r-- 1 u g 7 Jan  5 10:00 x",
            b"13-01-24  09:31AM  <DIR>  x",
            b"01-01-24  13:31PM  <DIR>  x",
            b"01-01-24  09:31AM  <FILE>  x",
            b"01-01-24  09:31AM  <DIR>",
            b"1-1-24  09:31AM  <DIR>  x",
            b"+i8388621.29609,m824255902,/,\tdeploy",
            b"nul\0inside",
            b"bare\rcr",
            b"\xff\xfe\xfd not utf-8",
            b"total",
            b"total x",
        ] {
            assert_eq!(parse_list_line(line, now), Some(Entry::other(line)), "{:?}", String::from_utf8_lossy(line));
        }
        let e = parse_list_line(b"\xff\xfe\xfd not utf-8\r\n", now).unwrap();
        assert_eq!((e.name.as_str(), e.name_was_lossy), ("\u{fffd}\u{fffd}\u{fffd} not utf-8", true));
        // Bare names, as some servers list them: `.` and `..` still never appear.
        for blank in [&b""[..], b"\r\n", b"  \t ", b"\n", b".", b"..\r\n", b".\r"] {
            assert_eq!(parse_list_line(blank, now), None, "{blank:?}");
            assert_eq!(parse_mlsx(blank), None, "{blank:?}");
        }
    }

    #[test]
    fn parse_line_picks_the_parser() {
        let now = captured();
        let fact = b"type=file;size=6; hello.txt";
        assert_eq!(parse_line(ListFormat::Mlsd, fact, now).unwrap().kind, Kind::File);
        assert_eq!(parse_line(ListFormat::List, fact, now), Some(Entry::other(fact)));
    }

    // ------------------------------------------------------------ reading

    /// Repeats `pattern` forever, counting the bytes it hands out.
    struct Endless {
        pattern: &'static [u8],
        at: usize,
        served: u64,
    }

    impl Endless {
        fn new(pattern: &'static [u8]) -> Self {
            Endless { pattern, at: 0, served: 0 }
        }
    }

    impl AsyncRead for Endless {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let n = buf.remaining();
            let bytes: Vec<u8> = (0..n).map(|i| self.pattern[(self.at + i) % self.pattern.len()]).collect();
            buf.put_slice(&bytes);
            self.at += n;
            self.served += n as u64;
            Poll::Ready(Ok(()))
        }
    }

    /// Hands out `data` one byte per read: every line arrives in pieces.
    struct Trickle(&'static [u8]);

    impl AsyncRead for Trickle {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            if let Some((&first, rest)) = self.0.split_first() {
                buf.put_slice(&[first]);
                self.0 = rest;
            }
            Poll::Ready(Ok(()))
        }
    }

    fn unlimited() -> Caps {
        Caps { max_entries: usize::MAX, max_bytes: u64::MAX, max_line_bytes: MAX_LIST_LINE_BYTES }
    }

    fn count(total: &mut u64) -> impl FnMut(u64) -> Result<(), &'static str> + '_ {
        move |n| {
            *total += n;
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_endless_listing_stops_at_the_byte_cap() {
        let mut server = Endless::new(b"a\n");
        let mut counted = 0;
        let caps = Caps { max_bytes: 1 << 20, ..unlimited() };
        let result = read_lines(&mut server, caps, count(&mut counted)).await;
        assert!(
            matches!(result, Err(ReadLinesError::TooLarge { cap: Cap::Bytes, limit }) if limit == 1 << 20),
            "{result:?}"
        );
        assert_eq!(server.served, (1 << 20) + 1, "read one byte past the cap, no more");
        assert_eq!(counted, server.served, "every byte read was reported");
        assert_eq!(result.unwrap_err().to_string(), "the listing is larger than 1048576 bytes");
    }

    #[tokio::test]
    async fn an_endless_listing_stops_at_the_entry_cap() {
        let mut server = Endless::new(b"a\n");
        let mut counted = 0;
        let caps = Caps { max_entries: 1000, ..unlimited() };
        let result = read_lines(&mut server, caps, count(&mut counted)).await;
        assert!(matches!(result, Err(ReadLinesError::TooLarge { cap: Cap::Entries, limit: 1000 })), "{result:?}");
        assert!(server.served <= READ_CHUNK as u64, "{} bytes read", server.served);
        assert_eq!(counted, server.served);
        assert_eq!(result.unwrap_err().to_string(), "the listing has more than 1000 entries");

        // Only lines that list something count for `read_listing`: `total`
        // lines are free, but still bounded by the byte cap.
        let mut server = Endless::new(b"total 0\r\n");
        let caps = Caps { max_entries: 1, max_bytes: 100_000, ..unlimited() };
        let result = read_listing(&mut server, caps, ListFormat::List, captured(), |_| Ok::<_, &str>(())).await;
        assert!(matches!(result, Err(ReadLinesError::TooLarge { cap: Cap::Bytes, .. })), "{result:?}");
    }

    #[tokio::test]
    async fn an_endless_line_stops_at_the_line_cap() {
        let mut server = Endless::new(b"a");
        let caps = Caps { max_line_bytes: 1000, ..unlimited() };
        let result = read_lines(&mut server, caps, |_| Ok::<_, &str>(())).await;
        assert!(matches!(result, Err(ReadLinesError::TooLarge { cap: Cap::LineBytes, limit: 1000 })), "{result:?}");
        assert!(server.served <= READ_CHUNK as u64, "{} bytes read", server.served);

        // The same line arriving a byte at a time: stopped one byte past the cap.
        let mut trickle = Trickle(Box::leak(vec![b'a'; 5000].into_boxed_slice()));
        let result = read_lines(&mut trickle, caps, |_| Ok::<_, &str>(())).await;
        assert!(matches!(result, Err(ReadLinesError::TooLarge { cap: Cap::LineBytes, .. })), "{result:?}");
        assert_eq!(trickle.0.len(), 5000 - 1002);
        assert_eq!(result.unwrap_err().to_string(), "a line of the listing is longer than 1000 bytes");
    }

    #[tokio::test]
    async fn a_refused_byte_count_stops_reading() {
        let mut server = Endless::new(b"-rw-r--r-- 1 u g 1 Jan  1  2020 f\r\n");
        let mut budget: u64 = 100;
        let result = read_listing(&mut server, unlimited(), ListFormat::List, captured(), |n| {
            budget = budget.checked_sub(n).ok_or("the run's byte budget is spent")?;
            Ok(())
        })
        .await;
        assert!(matches!(result, Err(ReadLinesError::Budget("the run's byte budget is spent"))), "{result:?}");
        assert!(server.served <= READ_CHUNK as u64, "{} bytes read", server.served);
    }

    #[tokio::test]
    async fn a_stream_that_never_ends_over_a_socket_pair() {
        // A server task writing `a\n` as fast as it can, through a real pipe.
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let flood = tokio::spawn(async move {
            let block = b"a\n".repeat(4096);
            loop {
                if let Err(e) = server.write_all(&block).await {
                    return e;
                }
            }
        });
        let (mut counted, mut lines) = (0, 0);
        let caps = Caps::new(usize::MAX, DEFAULT_MAX_LIST_BYTES);
        let result = for_each_line(&mut client, caps, count(&mut counted), |line| {
            assert_eq!(line, b"a");
            lines += 1;
            true
        })
        .await;
        assert_eq!(lines, DEFAULT_MAX_LIST_BYTES / 2);
        assert!(matches!(result, Err(ReadLinesError::TooLarge { cap: Cap::Bytes, .. })), "{result:?}");
        assert_eq!(counted, DEFAULT_MAX_LIST_BYTES + 1);
        // Dropping the reader closes the pipe: the flood ends.
        drop(client);
        let e =
            tokio::time::timeout(std::time::Duration::from_secs(10), flood).await.expect("the writer stops").unwrap();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    #[tokio::test]
    async fn caps_are_inclusive_and_line_ends_are_lf_or_crlf() {
        let read = |data: &'static [u8], caps: Caps| async move {
            let mut reader = data;
            read_lines(&mut reader, caps, |_| Ok::<_, &str>(()))
                .await
                .map(|lines| lines.into_iter().map(|l| String::from_utf8(l).unwrap()).collect::<Vec<_>>())
        };
        assert_eq!(read(b"a\r\nb\nc", unlimited()).await.unwrap(), ["a", "b", "c"]);
        assert_eq!(read(b"\n\r\n\n", unlimited()).await.unwrap(), Vec::<String>::new());
        assert_eq!(read(b"", unlimited()).await.unwrap(), Vec::<String>::new());
        assert_eq!(read(b"a\rb\r\n", unlimited()).await.unwrap(), ["a\rb"]);
        // Bytes: exactly the cap is fine.
        assert_eq!(read(b"a\nb\n", Caps { max_bytes: 4, ..unlimited() }).await.unwrap(), ["a", "b"]);
        assert!(matches!(
            read(b"a\nb\n", Caps { max_bytes: 3, ..unlimited() }).await,
            Err(ReadLinesError::TooLarge { cap: Cap::Bytes, limit: 3 })
        ));
        assert!(matches!(
            read(b"a", Caps { max_bytes: 0, ..unlimited() }).await,
            Err(ReadLinesError::TooLarge { cap: Cap::Bytes, limit: 0 })
        ));
        // Entries: a last line without a line end counts.
        assert_eq!(read(b"a\nb", Caps { max_entries: 2, ..unlimited() }).await.unwrap(), ["a", "b"]);
        assert!(matches!(
            read(b"a\nb", Caps { max_entries: 1, ..unlimited() }).await,
            Err(ReadLinesError::TooLarge { cap: Cap::Entries, limit: 1 })
        ));
        // Lines: the line end does not count.
        let three = Caps { max_line_bytes: 3, ..unlimited() };
        assert_eq!(read(b"abc\r\nabc\nabc", three).await.unwrap(), ["abc", "abc", "abc"]);
        for long in [&b"abcd\n"[..], b"abc\r\nabcd", b"abcd", b"abc\r\r\n"] {
            assert!(
                matches!(read(long, three).await, Err(ReadLinesError::TooLarge { cap: Cap::LineBytes, limit: 3 })),
                "{long:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_listing_in_pieces_parses_as_a_whole() {
        // proftpd's MLSD, CR LF, arriving a byte at a time.
        const MLSD: &[u8] = b"modify=20261201222023;perm=flcdmpe;type=cdir;unique=FE00U98C4F0;UNIX.mode=0755; .\r\n\
modify=20261201222022;perm=adfrw;size=6;type=file;unique=FE00U98C4F1;UNIX.mode=0644; hello.txt\r\n\
modify=20261201222023;perm=flcdmpe;type=pdir;unique=FE00U98C4F0;UNIX.mode=0755; ..\r\n\
modify=20261201222022;perm=flcdmpe;type=dir;unique=FE00U98C4F2;UNIX.mode=0755; sub\r\n";
        let mut counted = 0;
        let caps = Caps::new(2, 1000);
        let entries =
            read_listing(&mut Trickle(MLSD), caps, ListFormat::Mlsd, captured(), count(&mut counted)).await.unwrap();
        let names: Vec<_> = entries.iter().map(|e| (e.name.as_str(), e.kind)).collect();
        assert_eq!(names, [("hello.txt", Kind::File), ("sub", Kind::Directory)], "cdir and pdir are no entries");
        assert_eq!(counted, MLSD.len() as u64);

        // An IIS LIST: the same entries whether read whole or in pieces.
        const DOS: &[u8] = b"11-28-26  09:15AM       <DIR>          aspnet_client\r\n11-28-26  03:47PM                 1234 web.config\r\n";
        let whole = read_listing(&mut &DOS[..], unlimited(), ListFormat::List, captured(), |_| Ok::<_, &str>(()))
            .await
            .unwrap();
        let pieces = read_listing(&mut Trickle(DOS), unlimited(), ListFormat::List, captured(), |_| Ok::<_, &str>(()))
            .await
            .unwrap();
        assert_eq!(whole, pieces);
        assert_eq!(whole.len(), 2);
    }

    #[tokio::test]
    async fn a_failing_connection_is_an_io_error() {
        struct Reset;
        impl AsyncRead for Reset {
            fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
            }
        }
        let result = read_lines(&mut Reset, unlimited(), |_| Ok::<_, &str>(())).await;
        assert!(
            matches!(&result, Err(ReadLinesError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset),
            "{result:?}"
        );
    }
}
