//! A scripted FTP server on loopback that answers as Microsoft IIS does, for
//! the DOS-format `LIST` path end to end (no real IIS runs on Linux).
//!
//! [`IisServer`] serves an in-memory [`Site`] (files and directories) with
//! IIS's replies: the `220 Microsoft FTP Service` greeting, `215 Windows_NT`,
//! a `FEAT` without `MLST` (so a client must fall back to `LIST`), `LIST` in
//! IIS's MS-DOS style (`02-14-24  03:47PM       <DIR>          Reports`),
//! `125 Data connection already open; Transfer starting.`, case-insensitive
//! paths, `500 'CMD': command not understood` for what IIS lacks (`MLSD`,
//! `MLST`, `MFMT`). `MKD`, `RMD`, `DELE`, `RNFR`/`RNTO` and `STOR` change
//! the tree; [`IisServer::site`] shows it. Every command line received is
//! recorded ([`IisServer::commands`]), so a test can assert what reached
//! the server.
//!
//! Supported: `USER`, `PASS`, `SYST`, `FEAT`, `OPTS UTF8`, `TYPE`, `MODE`,
//! `STRU`, `NOOP`, `PWD`, `CWD`, `CDUP`, `EPSV`, `PASV`, `REST`, `SIZE`,
//! `MDTM`, `LIST`, `NLST`, `RETR`, `STOR`, `MKD`, `RMD`, `DELE`, `RNFR`,
//! `RNTO`, `ABOR`, `QUIT`. Passive data connections only (`PORT`/`EPRT`
//! get `501`), no TLS (`AUTH` gets `534`, which is what an IIS site that
//! allows only plain FTP answers).
//!
//! Synchronous std threads, on the plumbing of [`crate::scripted_server`]
//! like [`crate::hostile_server`]: usable from plain `#[test]`s (with a
//! blocking client) and from async tests alike; everything is stopped, and
//! every socket shut down, when the server is dropped.
//!
//! ```no_run
//! use ftp_host_e2e::iis_server::{DosTime, IisServer, Site};
//! let server = IisServer::start(
//!     Site::new().dir("Reports").file_at("Reports/q1.csv", b"a,b\r\n", DosTime::new(2024, 2, 14, 15, 47)),
//! );
//! // ... connect to server.addr() as IIS_USER / IIS_PASSWORD ...
//! assert!(!server.received("MLSD"));
//! ```

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::scripted_server::{pasv_address, verb_of, DataPort, Plumbing, Sockets};

/// The user name the server accepts by default.
pub const IIS_USER: &str = "iisuser";
/// The password of [`IIS_USER`].
pub const IIS_PASSWORD: &str = "iis-password";

/// How long a transfer command waits for the client's data connection.
const DATA_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest command line read; IIS closes on longer ones too.
const MAX_COMMAND_BYTES: u64 = 8192;

/// A file time as IIS keeps it: to the minute in `LIST`, to the second in
/// `MDTM` (seconds are always 0 here). No time zone: the server's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DosTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
}

impl DosTime {
    pub const fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8) -> DosTime {
        DosTime { year, month, day, hour, minute }
    }

    /// `MM-DD-YY  HH:MMAM`, or `MM-DD-YYYY  HH:MMAM` with four-digit years.
    fn list(&self, four_digit_years: bool) -> String {
        let year = if four_digit_years { format!("{:04}", self.year) } else { format!("{:02}", self.year % 100) };
        let (hour, meridian) = match self.hour {
            0 => (12, "AM"),
            h @ 1..=11 => (h, "AM"),
            12 => (12, "PM"),
            h => (h - 12, "PM"),
        };
        format!("{:02}-{:02}-{year}  {hour:02}:{:02}{meridian}", self.month, self.day, self.minute)
    }

    /// `YYYYMMDDHHMMSS`, as `MDTM` answers.
    fn mdtm(&self) -> String {
        format!("{:04}{:02}{:02}{:02}{:02}00", self.year, self.month, self.day, self.hour, self.minute)
    }
}

/// The time given to entries created without one, and by `MKD`/`STOR`.
pub const DEFAULT_TIME: DosTime = DosTime::new(2024, 2, 14, 15, 47);

/// One entry of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    File { bytes: Vec<u8>, modified: DosTime },
    Dir { modified: DosTime },
}

/// What the server serves: a tree of files and directories (keys are paths
/// without a leading `/`, e.g. `"Reports/q1.csv"`; parents of a file exist
/// implicitly), the credentials it accepts, and how it prints years.
#[derive(Clone, Debug)]
pub struct Site {
    nodes: BTreeMap<String, Node>,
    user: String,
    password: String,
    four_digit_years: bool,
}

impl Default for Site {
    fn default() -> Self {
        Site { nodes: BTreeMap::new(), user: IIS_USER.into(), password: IIS_PASSWORD.into(), four_digit_years: false }
    }
}

impl Site {
    /// An empty site accepting [`IIS_USER`] / [`IIS_PASSWORD`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Accept `user` / `password` instead.
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.user = user.into();
        self.password = password.into();
        self
    }

    /// Print `MM-DD-YYYY` dates, as IIS does with "four-digit years" set in
    /// its directory-listing options.
    pub fn four_digit_years(mut self) -> Self {
        self.four_digit_years = true;
        self
    }

    /// A directory (and its parents), dated [`DEFAULT_TIME`].
    pub fn dir(mut self, path: &str) -> Self {
        let key = clean(path);
        self.add_parents(&key);
        self.nodes.entry(key).or_insert(Node::Dir { modified: DEFAULT_TIME });
        self
    }

    /// A file (and its parent directories), dated [`DEFAULT_TIME`].
    pub fn file(self, path: &str, bytes: &[u8]) -> Self {
        self.file_at(path, bytes, DEFAULT_TIME)
    }

    /// A file dated `modified`.
    pub fn file_at(mut self, path: &str, bytes: &[u8], modified: DosTime) -> Self {
        let key = clean(path);
        self.add_parents(&key);
        self.nodes.insert(key, Node::File { bytes: bytes.to_vec(), modified });
        self
    }

    fn add_parents(&mut self, key: &str) {
        let mut at = 0;
        while let Some(slash) = key[at..].find('/') {
            self.nodes.entry(key[..at + slash].to_string()).or_insert(Node::Dir { modified: DEFAULT_TIME });
            at += slash + 1;
        }
    }

    /// The entries now, uploads and renames included.
    pub fn nodes(&self) -> &BTreeMap<String, Node> {
        &self.nodes
    }

    /// The bytes of the file at `path`, if there is one (exact case).
    pub fn file_bytes(&self, path: &str) -> Option<&[u8]> {
        match self.nodes.get(&clean(path)) {
            Some(Node::File { bytes, .. }) => Some(bytes),
            _ => None,
        }
    }

    /// Whether a directory exists at `path` (exact case).
    pub fn is_dir(&self, path: &str) -> bool {
        let key = clean(path);
        key.is_empty() || matches!(self.nodes.get(&key), Some(Node::Dir { .. }))
    }

    /// The key `path` names, compared without regard to ASCII case as
    /// Windows does; `""` is the root.
    fn find(&self, path: &str) -> Option<String> {
        let key = clean(path);
        if key.is_empty() || self.nodes.contains_key(&key) {
            return Some(key);
        }
        self.nodes.keys().find(|k| k.eq_ignore_ascii_case(&key)).cloned()
    }

    /// The direct children of directory `dir` (a key), in name order.
    fn children(&self, dir: &str) -> Vec<(String, &Node)> {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        self.nodes
            .iter()
            .filter_map(|(k, n)| {
                k.strip_prefix(&prefix)
                    .filter(|rest| !rest.is_empty() && !rest.contains('/'))
                    .map(|r| (r.to_string(), n))
            })
            .collect()
    }
}

/// `path` as a key: no leading, trailing or doubled slashes, `.`/`..` resolved.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The running server. See the module documentation.
pub struct IisServer {
    // Dropped first: stops every thread before the site goes.
    plumbing: Plumbing,
    site: Arc<Mutex<Site>>,
}

impl IisServer {
    /// Serve `site` on `127.0.0.1`, on a free port.
    pub fn start(site: Site) -> IisServer {
        let site = Arc::new(Mutex::new(site));
        let serving = site.clone();
        let plumbing = Plumbing::start("iis-ftp", move |sockets, stream| {
            let _ = Control::new(sockets, &serving, stream).and_then(|mut c| c.serve());
        });
        IisServer { plumbing, site }
    }

    /// The control connection's address.
    pub fn addr(&self) -> SocketAddr {
        self.plumbing.addr()
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Every command line received so far, on every connection, in order,
    /// without the CR LF (lossy UTF-8).
    pub fn commands(&self) -> Vec<String> {
        self.plumbing.sockets().commands()
    }

    /// Whether a command with this verb (`"DELE"`, case-insensitive) arrived.
    pub fn received(&self, verb: &str) -> bool {
        self.plumbing.sockets().received(verb)
    }

    /// Control connections accepted so far.
    pub fn control_connections(&self) -> usize {
        self.plumbing.sockets().control_connections()
    }

    /// Data connections accepted so far.
    pub fn data_connections(&self) -> usize {
        self.plumbing.sockets().data_connections()
    }

    /// The tree now.
    pub fn site(&self) -> Site {
        self.site.lock().unwrap().clone()
    }
}

/// IIS's reply to a path that does not exist.
const NOT_FOUND: &str = "550 The system cannot find the file specified. ";

/// One control connection.
struct Control<'a> {
    sockets: &'a Arc<Sockets>,
    site: &'a Mutex<Site>,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    user: Option<String>,
    logged_in: bool,
    /// The current directory, a key (`""` is the root).
    cwd: String,
    rest: u64,
    data: Option<DataPort>,
    rename_from: Option<String>,
}

impl<'a> Control<'a> {
    fn new(sockets: &'a Arc<Sockets>, site: &'a Mutex<Site>, stream: TcpStream) -> io::Result<Self> {
        let writer = stream.try_clone()?;
        Ok(Control {
            sockets,
            site,
            reader: BufReader::new(stream),
            writer,
            user: None,
            logged_in: false,
            cwd: String::new(),
            rest: 0,
            data: None,
            rename_from: None,
        })
    }

    fn reply(&mut self, text: &str) -> io::Result<()> {
        self.writer.write_all(format!("{text}\r\n").as_bytes())
    }

    fn serve(&mut self) -> io::Result<()> {
        self.reply("220 Microsoft FTP Service")?;
        let mut line = Vec::new();
        while let Some(text) = self.sockets.read_command(&mut self.reader, MAX_COMMAND_BYTES, &mut line)? {
            let verb = verb_of(&text).to_ascii_uppercase();
            let arg = text.get(verb.len()..).unwrap_or("").trim_start().to_string();
            if !self.command(&verb, &arg)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The key `arg` names from the current directory (not checked to exist).
    fn key(&self, arg: &str) -> String {
        if arg.starts_with(['/', '\\']) {
            clean(arg)
        } else {
            clean(&format!("{}/{arg}", self.cwd))
        }
    }

    /// Handle one command; false ends the connection.
    fn command(&mut self, verb: &str, arg: &str) -> io::Result<bool> {
        let pre_login = matches!(verb, "USER" | "PASS" | "QUIT" | "SYST" | "FEAT" | "OPTS" | "NOOP" | "AUTH");
        if !self.logged_in && !pre_login {
            self.reply("530 Please login with USER and PASS.")?;
            return Ok(true);
        }
        match verb {
            "USER" => {
                self.user = Some(arg.to_string());
                self.logged_in = false;
                self.reply("331 Password required")?
            }
            "PASS" => {
                let site = self.site.lock().unwrap();
                let ok = self.user.as_deref() == Some(site.user.as_str()) && arg == site.password;
                drop(site);
                if ok {
                    self.logged_in = true;
                    self.reply("230 User logged in.")?
                } else {
                    self.reply("530 User cannot log in.")?
                }
            }
            "AUTH" => self.reply("534 Local policy on server does not allow TLS secure connections.")?,
            "SYST" => self.reply("215 Windows_NT")?,
            "FEAT" => self.reply("211-Extended features supported:\r\n LANG EN*\r\n UTF8\r\n HOST\r\n SIZE\r\n MDTM\r\n REST STREAM\r\n211 END")?,
            "OPTS" if arg.eq_ignore_ascii_case("UTF8 ON") => self.reply("200 OPTS UTF8 command successful - UTF8 encoding now ON.")?,
            "OPTS" => self.reply("501 option not supported")?,
            "NOOP" => self.reply("200 NOOP command successful.")?,
            "TYPE" => match arg.to_ascii_uppercase().as_str() {
                "I" | "L 8" => self.reply("200 Type set to I.")?,
                "A" | "A N" => self.reply("200 Type set to A.")?,
                _ => self.reply("501 parameter not supported")?,
            },
            "MODE" | "STRU" => self.reply("200 command successful.")?,
            "PWD" | "XPWD" => self.reply(&format!("257 \"/{}\" is current directory.", self.cwd))?,
            "CWD" | "XCWD" => {
                let found = self.site.lock().unwrap().find(&self.key(arg));
                let site = self.site.lock().unwrap().clone();
                match found {
                    Some(key) if site.is_dir(&key) => {
                        self.cwd = key;
                        self.reply("250 CWD command successful.")?
                    }
                    Some(_) => self.reply("550 The directory name is invalid. ")?,
                    None => self.reply(NOT_FOUND)?,
                }
            }
            "CDUP" | "XCUP" => {
                self.cwd = clean(&format!("{}/..", self.cwd));
                self.reply("250 CDUP command successful.")?
            }
            "PASV" | "EPSV" => {
                let (addr, port) = self.sockets.data_listener()?;
                self.data = Some(port);
                if verb == "EPSV" {
                    self.reply(&format!("229 Entering Extended Passive Mode (|||{}|)", addr.port()))?
                } else {
                    self.reply(&format!("227 Entering Passive Mode ({}).", pasv_address(addr)))?
                }
            }
            "PORT" | "EPRT" => self.reply("501 Server cannot accept argument.")?,
            "REST" => match arg.parse::<u64>() {
                Ok(offset) => {
                    self.rest = offset;
                    self.reply(&format!("350 Restarting at {offset}."))?
                }
                Err(_) => self.reply("501 Invalid number of parameters.")?,
            },
            "SIZE" | "MDTM" => {
                let site = self.site.lock().unwrap().clone();
                let node = site.find(&self.key(arg)).and_then(|k| site.nodes.get(&k).cloned());
                match (verb, node) {
                    ("SIZE", Some(Node::File { bytes, .. })) => self.reply(&format!("213 {}", bytes.len()))?,
                    ("MDTM", Some(Node::File { modified, .. })) => self.reply(&format!("213 {}", modified.mdtm()))?,
                    _ => self.reply(NOT_FOUND)?,
                }
            }
            "LIST" | "NLST" => self.listing(verb, arg)?,
            "RETR" => self.retr(arg)?,
            "STOR" => self.stor(arg)?,
            "MKD" | "XMKD" => {
                let key = self.key(arg);
                let mut site = self.site.lock().unwrap();
                let parent = key.rsplit_once('/').map_or("", |(p, _)| p).to_string();
                let reply = if key.is_empty() || site.find(&key).is_some() {
                    "550 Cannot create a file when that file already exists. ".to_string()
                } else if !site.find(&parent).is_some_and(|p| site.is_dir(&p)) {
                    "550 The system cannot find the path specified. ".to_string()
                } else {
                    site.nodes.insert(key.clone(), Node::Dir { modified: DEFAULT_TIME });
                    format!("257 \"/{key}\" directory created.")
                };
                drop(site);
                self.reply(&reply)?
            }
            "RMD" | "XRMD" => {
                let mut site = self.site.lock().unwrap();
                let reply = match site.find(&self.key(arg)) {
                    Some(key) if key.is_empty() => "550 Access is denied. ",
                    Some(key) if site.is_dir(&key) => {
                        if site.children(&key).is_empty() {
                            site.nodes.remove(&key);
                            "250 RMD command successful."
                        } else {
                            "550 The directory is not empty. "
                        }
                    }
                    Some(_) => "550 The directory name is invalid. ",
                    None => NOT_FOUND,
                };
                drop(site);
                self.reply(reply)?
            }
            "DELE" => {
                let mut site = self.site.lock().unwrap();
                let reply = match site.find(&self.key(arg)) {
                    Some(key) if !site.is_dir(&key) => {
                        site.nodes.remove(&key);
                        "250 DELE command successful."
                    }
                    Some(_) => "550 Access is denied. ",
                    None => NOT_FOUND,
                };
                drop(site);
                self.reply(reply)?
            }
            "RNFR" => {
                let found = self.site.lock().unwrap().find(&self.key(arg)).filter(|k| !k.is_empty());
                match found {
                    Some(key) => {
                        self.rename_from = Some(key);
                        self.reply("350 Requested file action pending further information.")?
                    }
                    None => self.reply(NOT_FOUND)?,
                }
            }
            "RNTO" => {
                let Some(from) = self.rename_from.take() else {
                    return self.reply("503 Bad sequence of commands.").map(|_| true);
                };
                let to = self.key(arg);
                let mut site = self.site.lock().unwrap();
                let parent = to.rsplit_once('/').map_or("", |(p, _)| p).to_string();
                let reply = if to.is_empty() || site.find(&to).is_some() {
                    "550 Cannot create a file when that file already exists. "
                } else if !site.find(&parent).is_some_and(|p| site.is_dir(&p)) || to.starts_with(&format!("{from}/")) {
                    "550 The system cannot find the path specified. "
                } else {
                    // A directory moves with everything under it.
                    let moved: Vec<String> = site
                        .nodes
                        .keys()
                        .filter(|k| **k == from || k.starts_with(&format!("{from}/")))
                        .cloned()
                        .collect();
                    for key in moved {
                        let node = site.nodes.remove(&key).unwrap();
                        site.nodes.insert(format!("{to}{}", &key[from.len()..]), node);
                    }
                    "250 RNTO command successful."
                };
                drop(site);
                self.reply(reply)?
            }
            "ABOR" => self.reply("225 No transfer to ABOR.")?,
            "QUIT" => {
                self.reply("221 Goodbye.")?;
                return Ok(false);
            }
            _ => self.reply(&format!("500 '{verb}': command not understood"))?,
        }
        Ok(true)
    }

    /// Wait for the client's data connection on the last `PASV`/`EPSV` port.
    fn accept_data(&mut self) -> Option<TcpStream> {
        self.data.take()?.accept(DATA_TIMEOUT)
    }

    /// `125`, `send` on the data connection, close it, `226`.
    fn send_data(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(mut data) = self.accept_data() else {
            return self.reply("425 Can't open data connection.");
        };
        self.reply("125 Data connection already open; Transfer starting.")?;
        let sent = data.write_all(bytes);
        let _ = data.shutdown(Shutdown::Both);
        match sent {
            Ok(()) => self.reply("226 Transfer complete."),
            Err(_) => self.reply("426 Connection closed; transfer aborted."),
        }
    }

    fn listing(&mut self, verb: &str, arg: &str) -> io::Result<()> {
        // IIS takes `-l`, `-a` and the like, and ignores them.
        let path = arg.split_whitespace().filter(|w| !w.starts_with('-')).collect::<Vec<_>>().join(" ");
        let site = self.site.lock().unwrap().clone();
        let Some(key) = site.find(&self.key(&path)) else {
            self.data = None;
            return self.reply(NOT_FOUND);
        };
        let entries: Vec<(String, Node)> = if site.is_dir(&key) {
            site.children(&key).into_iter().map(|(name, node)| (name, node.clone())).collect()
        } else {
            let name = key.rsplit('/').next().unwrap_or_default().to_string();
            vec![(name, site.nodes[&key].clone())]
        };
        let mut body = String::new();
        for (name, node) in entries {
            if verb == "NLST" {
                body.push_str(&name);
            } else {
                // IIS's MS-DOS style: the date, two spaces, the time, then
                // `<DIR>` padded or the size right-aligned in 20 columns.
                match node {
                    Node::Dir { modified } => {
                        body.push_str(&format!("{}       <DIR>          {name}", modified.list(site.four_digit_years)))
                    }
                    Node::File { bytes, modified } => {
                        body.push_str(&format!("{} {:>20} {name}", modified.list(site.four_digit_years), bytes.len()))
                    }
                }
            }
            body.push_str("\r\n");
        }
        self.send_data(body.as_bytes())
    }

    fn retr(&mut self, arg: &str) -> io::Result<()> {
        let offset = std::mem::take(&mut self.rest) as usize;
        let site = self.site.lock().unwrap().clone();
        let file = site.find(&self.key(arg)).and_then(|k| match site.nodes.get(&k) {
            Some(Node::File { bytes, .. }) => Some(bytes.clone()),
            _ => None,
        });
        let Some(file) = file else {
            self.data = None;
            return self.reply(NOT_FOUND);
        };
        self.send_data(&file[offset.min(file.len())..])
    }

    fn stor(&mut self, arg: &str) -> io::Result<()> {
        let offset = std::mem::take(&mut self.rest) as usize;
        let site = self.site.lock().unwrap().clone();
        let key = site.find(&self.key(arg)).unwrap_or_else(|| self.key(arg));
        let parent = key.rsplit_once('/').map_or("", |(p, _)| p).to_string();
        if key.is_empty() || site.is_dir(&key) || !site.find(&parent).is_some_and(|p| site.is_dir(&p)) {
            self.data = None;
            return self.reply("550 The system cannot find the path specified. ");
        }
        let Some(mut data) = self.accept_data() else {
            return self.reply("425 Can't open data connection.");
        };
        self.reply("125 Data connection already open; Transfer starting.")?;
        let mut received = Vec::new();
        let read = data.read_to_end(&mut received);
        drop(data);
        if read.is_err() {
            return self.reply("426 Connection closed; transfer aborted.");
        }
        let mut site = self.site.lock().unwrap();
        let mut bytes = match site.nodes.get(&key) {
            Some(Node::File { bytes, .. }) if offset > 0 => bytes.clone(),
            _ => Vec::new(),
        };
        bytes.truncate(offset);
        bytes.extend_from_slice(&received);
        site.nodes.insert(key, Node::File { bytes, modified: DEFAULT_TIME });
        drop(site);
        self.reply("226 Transfer complete.")
    }
}
