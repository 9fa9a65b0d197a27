//! The properties of the `listing` fuzz target: the listing parsers
//! (`MLSD`/`MLST` fact lines, Unix and DOS `LIST` lines), `MDTM` replies and
//! the capped line reader of `ftp_host::listing`, on arbitrary bytes.
//!
//! Used by the `listing` target and by the stable replay test, which also
//! takes [`generate`] for its generated inputs.
//!
//! * No input panics, whatever the clock says (`now` from year 1 to the
//!   ends of `i64`).
//! * An entry never has an empty name, `.` or `..`; a parsed one (not a raw
//!   line) has no `/` in its name; a name not marked lossy appears verbatim
//!   in the line, and a line that is valid UTF-8 never gives a lossy name.
//! * Times are valid instants that survive the civil-date round trip, and
//!   `MFMT`'s format reads back through `MDTM`'s parser; `LIST` times are
//!   marked approximate, `MLSD` times are not.
//! * The capped reader returns exactly the entries the line parser gives,
//!   line by line, when the input is within its caps, and stops with the
//!   right cap otherwise, having read at most one byte past the byte cap.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use ftp_host::listing::{
    format_mfmt, parse_line, parse_mdtm, read_listing, Cap, Caps, Entry, Kind, ListFormat, ReadLinesError, Timestamp,
};

/// The clocks every input is parsed against: when the seed listings were
/// captured, just after a skipped leap day, the epoch, the ends of the
/// four-digit years, and the ends of `i64`.
pub const NOWS: [i64; 7] = [1_796_163_660, 4_139_078_400, 0, 253_402_300_799, -62_135_596_800, i64::MAX, i64::MIN];

/// The reader's caps in this target: small, so inputs reach them.
pub const CAPS: Caps = Caps { max_entries: 16, max_bytes: 4096, max_line_bytes: 256 };

/// Target `listing`: `data` as a listing, in both formats, against each clock.
pub fn listing(data: &[u8]) {
    for seconds in NOWS {
        let now = Timestamp { seconds, nanoseconds: 0 };
        for format in [ListFormat::Mlsd, ListFormat::List] {
            for line in data.split(|&b| b == b'\n') {
                if let Some(entry) = parse_line(format, line, now) {
                    check_entry(&entry, line, format);
                }
            }
            check_reader(data, format, now);
        }
    }
    if let Some(time) = parse_mdtm(&String::from_utf8_lossy(data)) {
        check_time(time);
    }
}

/// The properties of one entry parsed from `line`.
pub fn check_entry(entry: &Entry, line: &[u8], format: ListFormat) {
    let shown = String::from_utf8_lossy(line);
    assert!(!matches!(entry.name.as_str(), "" | "." | ".."), "entry {:?} from {shown:?}", entry.name);
    if *entry != Entry::other(line) {
        assert!(!entry.name.contains('/'), "a parsed name with a slash: {:?} from {shown:?}", entry.name);
    }
    if entry.name_was_lossy {
        assert!(entry.name.contains('\u{fffd}'), "marked lossy without a replacement: {:?}", entry.name);
    } else {
        assert!(
            line.windows(entry.name.len()).any(|w| w == entry.name.as_bytes()),
            "{:?} not in {shown:?}",
            entry.name
        );
    }
    if std::str::from_utf8(line).is_ok() {
        assert!(!entry.name_was_lossy, "a UTF-8 line gave a lossy name: {shown:?}");
    }
    if entry.target.is_some() {
        assert_eq!(entry.kind, Kind::Symlink, "a target on a non-symlink from {shown:?}");
    }
    match entry.modified {
        Some(time) => {
            check_time(time);
            assert_eq!(entry.modified_approximate, format == ListFormat::List, "approximate? {shown:?}");
        }
        None => assert!(!entry.modified_approximate, "approximate without a time: {shown:?}"),
    }
}

/// A valid instant; its civil date reads back; `MFMT` text reads back through `MDTM`.
pub fn check_time(time: Timestamp) {
    assert!(time.nanoseconds < 1_000_000_000, "{time:?}");
    assert_eq!(time.to_civil().to_timestamp(), Some(time), "civil round trip of {time:?}");
    if let Some(text) = format_mfmt(time) {
        assert_eq!(text.len(), 14, "{text:?}");
        let whole = Timestamp { nanoseconds: 0, ..time };
        assert_eq!(parse_mdtm(&format!("213 {text}")), Some(whole), "MFMT {text} of {time:?}");
    }
}

/// The capped reader over `data` against the line-by-line parse.
pub fn check_reader(data: &[u8], format: ListFormat, now: Timestamp) {
    let mut counted = 0u64;
    let mut reader = data;
    let result = ready(read_listing(&mut reader, CAPS, format, now, |n| {
        counted += n;
        Ok::<(), ()>(())
    }));
    assert!(counted <= CAPS.max_bytes + 1 && counted <= data.len() as u64, "{counted} bytes counted");
    // The lines the reader saw: those in the bytes it was allowed to read.
    let lines: Vec<&[u8]> =
        data.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).filter(|l| !l.is_empty()).collect();
    match result {
        Ok(entries) => {
            assert!(data.len() as u64 <= CAPS.max_bytes, "{} bytes passed a {}-byte cap", data.len(), CAPS.max_bytes);
            assert!(lines.iter().all(|l| l.len() <= CAPS.max_line_bytes), "a long line passed");
            let expected: Vec<Entry> = lines.iter().filter_map(|l| parse_line(format, l, now)).collect();
            assert!(expected.len() <= CAPS.max_entries);
            assert_eq!(entries, expected, "the reader and the line parser disagree");
            assert_eq!(counted, data.len() as u64, "bytes read but not counted");
        }
        Err(ReadLinesError::TooLarge { cap: Cap::Bytes, limit }) => {
            assert_eq!(limit, CAPS.max_bytes);
            assert!(data.len() as u64 > CAPS.max_bytes, "a byte cap error on {} bytes", data.len());
        }
        Err(ReadLinesError::TooLarge { cap: Cap::LineBytes, limit }) => {
            assert_eq!(limit, CAPS.max_line_bytes as u64);
            assert!(lines.iter().any(|l| l.len() > CAPS.max_line_bytes), "a line cap error without a long line");
        }
        Err(ReadLinesError::TooLarge { cap: Cap::Entries, limit }) => {
            assert_eq!(limit, CAPS.max_entries as u64);
            let entries = lines.iter().filter(|l| parse_line(format, l, now).is_some()).count();
            assert!(entries > CAPS.max_entries, "an entry cap error with {entries} entries");
        }
        Err(e) => panic!("reading a byte slice failed: {e:?}"),
    }
}

/// Run a future that never waits (reading a byte slice) to completion.
fn ready<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("reading a byte slice waited"),
    }
}

/// Pieces of `LIST`, `MLSD`, `MLST` and `MDTM` lines, valid and not.
#[allow(dead_code)] // Used by the replay test's generator only.
pub const TOKENS: &[&str] = &[
    "-rw-r--r--",
    "drwxr-xr-x",
    "lrwxrwxrwx",
    "crw-rw-rw-",
    "-rw-r--r--+",
    "prw-r--r--",
    "1",
    "65534",
    "ftp",
    "nogroup",
    "0",
    "4096",
    "18446744073709551615",
    "18446744073709551616",
    "1,",
    "3",
    "Jan",
    "Feb",
    "dec",
    "Foo",
    "29",
    "31",
    "32",
    "22:20",
    "23:59",
    "24:00",
    "2019",
    "1969",
    "9999",
    "name",
    "with",
    "->",
    "target",
    "/",
    ".",
    "..",
    "../../etc/passwd",
    "total",
    "11-28-26",
    "02-29-24",
    "13-01-24",
    "02-14-2024",
    "09:15AM",
    "12:05PM",
    "13:00PM",
    "PM",
    "<DIR>",
    "1,234",
    " ",
    "type=file;",
    "type=dir;",
    "type=cdir;",
    "type=pdir;",
    "type=OS.unix=slink:",
    "type=OS.unix=symlink;",
    "size=6;",
    "sizd=4096;",
    "size=-1;",
    "modify=20261201222022;",
    "modify=20240229120000.123456789123;",
    "modify=20230229000000;",
    "perm=adfrw;",
    "UNIX.mode=4755;",
    "UNIX.mode=9;",
    "250-",
    "213",
    "20261201222022",
    "20261201222022.5",
    "é",
    "\u{fffd}",
];

/// A generated input for the replay test: up to 24 lines of [`TOKENS`],
/// blanks, runs of `x` (long lines) and random bytes (often not UTF-8),
/// ended by CR LF, LF, a bare CR or nothing. `next` is the replay's random
/// number generator.
#[allow(dead_code)] // Used by the replay test only.
pub fn generate(mut next: impl FnMut() -> u64) -> Vec<u8> {
    let mut below = |n: usize| (next() % n as u64) as usize;
    let mut data = Vec::new();
    for _ in 0..below(24) {
        for _ in 0..below(12) {
            match below(16) {
                0 => data.push(below(256) as u8),
                1 => data.extend(std::iter::repeat_n(b'x', below(400))),
                _ => data.extend_from_slice(TOKENS[below(TOKENS.len())].as_bytes()),
            }
            data.extend_from_slice([" ", " ", "  ", "\t", ""][below(5)].as_bytes());
        }
        data.extend_from_slice(["\r\n", "\n", "\r\n", "\r", ""][below(5)].as_bytes());
    }
    data
}
