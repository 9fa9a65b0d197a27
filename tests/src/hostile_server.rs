//! A scriptable, misbehaving FTP server on loopback, for the fault tests and
//! the sandbox attack suite.
//!
//! [`HostileServer`] speaks just enough FTP for suppaftp (greeting, `USER`,
//! `PASS` with any credentials, `TYPE`, `PWD`, `CWD`, `PASV`/`EPSV`,
//! `NLST`/`LIST`/`RETR`/`STOR`/`APPE` with `150` + data + `226`, `SIZE`, `REST`,
//! `QUIT`...) over an in-memory file tree, and a [`Script`] makes it misbehave:
//! lie in its `PASV` reply, never answer, stall a download, flood the client
//! with an endless reply... It records every command line it receives (so a
//! test can assert that no `DELE` ever arrived, or which password was sent)
//! and counts every connection accepted on each listener it owns.
//!
//! Synchronous std threads only: usable from plain `#[test]`s and from async
//! tests alike. Everything is stopped, and every socket it accepted shut
//! down, when the server is dropped.
//!
//! ```no_run
//! use ftp_host_e2e::hostile_server::{HostileServer, Script};
//! let server = HostileServer::start(Script::new().file("a.txt", b"hello").pasv_to_canary());
//! // ... run a guest against server.addr() ...
//! assert_eq!(server.canary_connections(), 0, "the host followed a lying PASV reply");
//! assert!(!server.received("DELE"));
//! ```
//!
//! Data connections are passive only: each `PASV`/`EPSV` opens a fresh data
//! listener on the control listener's IP; the next transfer command answers
//! `150`, waits up to [`Script::data_timeout`] for a connection on it (else
//! `425`), moves the bytes, closes it and answers `226`. `PORT`/`EPRT` get `502`.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::scripted_server::{pasv_address, verb_of, DataPort, Plumbing, Sockets, POLL};

/// When a scripted misbehaviour ([`Act`]) happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// Instead of the `220` greeting.
    Greeting,
    /// Instead of the reply to every command with this verb (`"PWD"`, `"PASS"`; case-insensitive).
    Command(String),
    /// Instead of the reply to any command.
    AnyCommand,
}

impl When {
    /// `When::Command(verb)`.
    pub fn command(verb: &str) -> Self {
        When::Command(verb.to_ascii_uppercase())
    }
}

/// A misbehaviour, in place of the normal reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act {
    /// Answer nothing, now or ever again on this connection (commands are still recorded).
    Silence,
    /// Send a reply line of this many bytes (`200 xxxx...`) with no CR LF, then go silent.
    HugeLine(usize),
    /// Answer `999 what`, then carry on normally.
    UnknownCode,
    /// Send `CODE-endless` lines forever (CODE being the normal reply's code,
    /// `220` for the greeting), until the client disconnects.
    EndlessMultiline,
    /// Send these raw bytes (include the CR LF yourself), then carry on normally.
    Reply(String),
    /// Close the control connection.
    Close,
}

/// What the server does: its files and its misbehaviours. Default: a
/// well-behaved server with no files.
#[derive(Clone, Debug)]
pub struct Script {
    files: BTreeMap<String, Vec<u8>>,
    acts: Vec<(When, Act)>,
    pasv: Pasv,
    stall_retr_after: Option<usize>,
    stall_stor: bool,
    slow_stor: bool,
    garbage_listing: bool,
    endless_listing: Option<Vec<u8>>,
    plaintext_on_auth_tls: bool,
    data_timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pasv {
    Honest,
    To(SocketAddr),
    Canary,
    Garbage,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            files: BTreeMap::new(),
            acts: Vec::new(),
            pasv: Pasv::Honest,
            stall_retr_after: None,
            stall_stor: false,
            slow_stor: false,
            garbage_listing: false,
            endless_listing: None,
            plaintext_on_auth_tls: false,
            data_timeout: Duration::from_secs(5),
        }
    }
}

impl Script {
    /// A well-behaved server with no files.
    pub fn new() -> Self {
        Self::default()
    }

    /// A file the server offers (`RETR`, `SIZE`, `NLST`); `path` relative to
    /// `/`, for example `"dir/a.txt"` (directories exist implicitly).
    pub fn file(mut self, path: &str, bytes: &[u8]) -> Self {
        self.files.insert(path.trim_start_matches('/').to_string(), bytes.to_vec());
        self
    }

    /// Misbehave with `act` at `when`. The first matching rule wins.
    pub fn at(mut self, when: When, act: Act) -> Self {
        self.acts.push((when, act));
        self
    }

    /// `PASV` replies name `addr` and `EPSV` replies its port, instead of the
    /// real data listener (which still exists and still counts connections).
    pub fn pasv_to(mut self, addr: SocketAddr) -> Self {
        self.pasv = Pasv::To(addr);
        self
    }

    /// `PASV`/`EPSV` replies name the server's own canary listener
    /// ([`HostileServer::canary_addr`]).
    pub fn pasv_to_canary(mut self) -> Self {
        self.pasv = Pasv::Canary;
        self
    }

    /// `227 Entering Passive Mode (999,0,0,1,300,5)` and
    /// `229 Entering Extended Passive Mode (|||99999|)`: out-of-range numbers.
    pub fn pasv_garbage(mut self) -> Self {
        self.pasv = Pasv::Garbage;
        self
    }

    /// Accept control connections and never send a byte.
    pub fn never_greet(self) -> Self {
        self.at(When::Greeting, Act::Silence)
    }

    /// Greet, then never answer a command.
    pub fn silent_after_greeting(self) -> Self {
        self.at(When::AnyCommand, Act::Silence)
    }

    /// A 220 greeting line of `len` bytes without CR LF, then silence.
    pub fn huge_reply_line(self, len: usize) -> Self {
        self.at(When::Greeting, Act::HugeLine(len))
    }

    /// `999 what` as the greeting.
    pub fn unknown_code(self) -> Self {
        self.at(When::Greeting, Act::UnknownCode)
    }

    /// `220-endless` greeting lines, forever.
    pub fn endless_multiline(self) -> Self {
        self.at(When::Greeting, Act::EndlessMultiline)
    }

    /// Every `RETR` sends its first `bytes` bytes (the file's, padded with
    /// zeros if it is shorter or missing), then neither sends more nor closes
    /// the data connection, nor answers `226`. When the client closes the data
    /// connection, the server answers `426` and carries on.
    pub fn stall_retr_after(mut self, bytes: usize) -> Self {
        self.stall_retr_after = Some(bytes);
        self
    }

    /// Every `STOR`/`APPE` accepts the data connection and never reads from it
    /// nor answers again (until the server is dropped).
    pub fn stall_stor(mut self) -> Self {
        self.stall_stor = true;
        self
    }

    /// Every `STOR`/`APPE` reads its data connection slowly (16 KiB a
    /// millisecond), so a client's writes fill the socket and wait.
    pub fn slow_stor(mut self) -> Self {
        self.slow_stor = true;
        self
    }

    /// `NLST` and `LIST` send binary junk: invalid UTF-8, NUL, a bare CR, a
    /// 64 KiB name, `../../etc/passwd`, an empty line.
    pub fn garbage_listing(mut self) -> Self {
        self.garbage_listing = true;
        self
    }

    /// `NLST` and `LIST` answer `150`, then send `line` on the data
    /// connection over and over, until the client closes it (or the server
    /// stops). `b"a\r\n"` is an endless list of names; a line without an
    /// end of line is one endless name.
    pub fn endless_listing(mut self, line: &[u8]) -> Self {
        self.endless_listing = Some(line.to_vec());
        self
    }

    /// Answer `234` to `AUTH TLS`, then send a plaintext `220` line instead of
    /// a TLS handshake, and ignore whatever comes next. (Without this,
    /// `AUTH` gets `534`: this server has no TLS.)
    pub fn plaintext_on_auth_tls(mut self) -> Self {
        self.plaintext_on_auth_tls = true;
        self
    }

    /// How long a transfer command waits for the client's data connection
    /// before answering `425` (default 5 s).
    pub fn data_timeout(mut self, timeout: Duration) -> Self {
        self.data_timeout = timeout;
        self
    }

    fn act_for(&self, when: &When) -> Option<&Act> {
        self.acts
            .iter()
            .find(|(w, _)| w == when || (*w == When::AnyCommand && matches!(when, When::Command(_))))
            .map(|(_, a)| a)
    }
}

/// A listener that counts the TCP connections it accepts and closes each at
/// once: point a lying `PASV` reply at it to see whether anyone followed it.
pub struct Canary {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Canary {
    /// A canary on `127.0.0.1`, on a free port.
    pub fn start() -> Canary {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// A canary on `ip` (a loopback address), on a free port.
    pub fn start_on(ip: IpAddr) -> Canary {
        let listener = TcpListener::bind((ip, 0)).expect("canary listener binds");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (connections.clone(), stop.clone());
        let thread = thread::Builder::new()
            .name(format!("canary-{}", addr.port()))
            .spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            count.fetch_add(1, Ordering::SeqCst);
                            drop(stream);
                        }
                        Err(_) => thread::sleep(POLL),
                    }
                }
            })
            .unwrap();
        Canary { addr, connections, stop, thread: Some(thread) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The running server. See the module documentation.
pub struct HostileServer {
    // Dropped first: stops every thread before the rest goes.
    plumbing: Plumbing,
    shared: Arc<Shared>,
    canary: Canary,
}

/// What the server's own threads share beyond the plumbing.
struct Shared {
    script: Script,
    canary: SocketAddr,
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl HostileServer {
    /// Start a server following `script` on `127.0.0.1`, on a free port.
    pub fn start(script: Script) -> HostileServer {
        let canary = Canary::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let shared = Arc::new(Shared { files: Mutex::new(script.files.clone()), script, canary: canary.addr() });
        let serving = shared.clone();
        let plumbing = Plumbing::start("hostile-ftp", move |sockets, stream| {
            let _ = Control::new(sockets, &serving, stream).and_then(|mut c| c.serve());
        });
        HostileServer { plumbing, shared, canary }
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

    /// The most control connections that were ever open at the same time
    /// (a connection counts from its accept until the server has seen it
    /// closed, or closed it).
    pub fn max_concurrent_control_connections(&self) -> usize {
        self.plumbing.sockets().max_concurrent_control_connections()
    }

    /// Connections accepted so far on the data listeners (the real ones,
    /// whatever the `PASV` replies said).
    pub fn data_connections(&self) -> usize {
        self.plumbing.sockets().data_connections()
    }

    /// The server's own [`Canary`] (see [`Script::pasv_to_canary`]).
    pub fn canary_addr(&self) -> SocketAddr {
        self.canary.addr()
    }

    /// Connections accepted so far by the server's canary.
    pub fn canary_connections(&self) -> usize {
        self.canary.connections()
    }

    /// The server's files now, uploads included.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        self.shared.files.lock().unwrap().clone()
    }

    /// Wait until `done(self)` holds, up to `timeout`; whether it did.
    /// For asserting on something a client thread does asynchronously.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(POLL);
        }
    }
}

/// One control connection.
struct Control<'a> {
    sockets: &'a Arc<Sockets>,
    shared: &'a Arc<Shared>,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    cwd: String,
    rest: u64,
    data: Option<DataPort>,
    silent: bool,
    /// The file named by the last RNFR.
    rename_from: Option<String>,
}

/// What a misbehaviour leaves the connection in.
enum Flow {
    Continue,
    End,
}

impl<'a> Control<'a> {
    fn new(sockets: &'a Arc<Sockets>, shared: &'a Arc<Shared>, stream: TcpStream) -> io::Result<Self> {
        let writer = stream.try_clone()?;
        Ok(Control {
            sockets,
            shared,
            reader: BufReader::new(stream),
            writer,
            cwd: "/".into(),
            rest: 0,
            data: None,
            silent: false,
            rename_from: None,
        })
    }

    fn serve(&mut self) -> io::Result<()> {
        let shared: &'a Arc<Shared> = self.shared;
        let script = &shared.script;
        match script.act_for(&When::Greeting) {
            Some(act) => {
                if let Flow::End = self.misbehave(act, "220")? {
                    return Ok(());
                }
            }
            None => self.reply("220 hostile FTP server ready")?,
        }
        let mut line = Vec::new();
        // No limit on a command line: the client is the host under test.
        while let Some(text) = self.sockets.read_command(&mut self.reader, u64::MAX, &mut line)? {
            if self.silent {
                continue;
            }
            let verb = verb_of(&text).to_ascii_uppercase();
            let arg = text.get(verb.len()..).unwrap_or("").trim().to_string();
            if let Some(act) = script.act_for(&When::Command(verb.clone())) {
                match self.misbehave(act, normal_code(&verb))? {
                    Flow::Continue => continue,
                    Flow::End => return Ok(()),
                }
            }
            if let Flow::End = self.command(&verb, &arg)? {
                return Ok(());
            }
        }
        Ok(())
    }

    fn misbehave(&mut self, act: &Act, code: &str) -> io::Result<Flow> {
        match act {
            Act::Silence => self.silent = true,
            Act::HugeLine(len) => {
                let mut line = format!("{code} ").into_bytes();
                line.resize((*len).max(line.len()), b'x');
                self.writer.write_all(&line)?;
                self.silent = true;
            }
            Act::UnknownCode => self.reply("999 what")?,
            Act::EndlessMultiline => {
                let line = format!("{code}-endless\r\n").repeat(256);
                loop {
                    if self.sockets.stopping() {
                        return Ok(Flow::End);
                    }
                    self.writer.write_all(line.as_bytes())?;
                }
            }
            Act::Reply(text) => self.writer.write_all(text.as_bytes())?,
            Act::Close => return Ok(Flow::End),
        }
        Ok(Flow::Continue)
    }

    fn command(&mut self, verb: &str, arg: &str) -> io::Result<Flow> {
        let shared: &'a Arc<Shared> = self.shared;
        let script = &shared.script;
        match verb {
            "USER" => self.reply("331 password please")?,
            "PASS" => self.reply("230 logged in")?,
            "TYPE" | "MODE" | "STRU" | "NOOP" | "PBSZ" | "PROT" | "OPTS" => self.reply("200 ok")?,
            "SYST" => self.reply("215 UNIX Type: L8")?,
            "FEAT" => self.reply("211-Features:\r\n SIZE\r\n EPSV\r\n PASV\r\n REST STREAM\r\n211 End")?,
            "PWD" | "XPWD" => self.reply(&format!("257 \"{}\" is the current directory", self.cwd))?,
            "CWD" | "XCWD" => {
                self.cwd = self.path(arg);
                if !self.cwd.starts_with('/') {
                    self.cwd.insert(0, '/');
                }
                self.reply("250 directory changed")?
            }
            "CDUP" | "XCUP" => {
                self.cwd = "/".into();
                self.reply("250 directory changed")?
            }
            "AUTH" if script.plaintext_on_auth_tls => {
                self.reply("234 AUTH TLS ok, start the handshake")?;
                self.reply("220 plaintext where a TLS handshake should be")?;
                // Ignore the ClientHello and everything after it.
                let _ = io::copy(&mut self.reader, &mut io::sink());
                return Ok(Flow::End);
            }
            "AUTH" => self.reply("534 no TLS here")?,
            "PASV" | "EPSV" => {
                let (real, port) = self.sockets.data_listener()?;
                self.data = Some(port);
                let named = match &script.pasv {
                    Pasv::Honest => real,
                    Pasv::To(addr) => *addr,
                    Pasv::Canary => self.shared.canary,
                    Pasv::Garbage if verb == "PASV" => {
                        return self.reply("227 Entering Passive Mode (999,0,0,1,300,5)").map(|_| Flow::Continue)
                    }
                    Pasv::Garbage => {
                        return self.reply("229 Entering Extended Passive Mode (|||99999|)").map(|_| Flow::Continue)
                    }
                };
                if verb == "EPSV" {
                    self.reply(&format!("229 Entering Extended Passive Mode (|||{}|)", named.port()))?
                } else {
                    self.reply(&format!("227 Entering Passive Mode ({})", pasv_address(named)))?
                }
            }
            "PORT" | "EPRT" => self.reply("502 active mode is not supported")?,
            "REST" => match arg.parse() {
                Ok(offset) => {
                    self.rest = offset;
                    self.reply(&format!("350 restarting at {offset}"))?
                }
                Err(_) => self.reply("501 bad offset")?,
            },
            "SIZE" => match self.shared.files.lock().unwrap().get(&self.key(arg)).map(Vec::len) {
                Some(len) => self.reply(&format!("213 {len}"))?,
                None => self.reply("550 no such file")?,
            },
            "MDTM" => self.reply("213 20200101000000")?,
            "NLST" | "LIST" => self.listing(verb, arg)?,
            "RETR" => self.retr(arg)?,
            "STOR" | "APPE" => self.stor(verb, arg)?,
            "DELE" => match self.shared.files.lock().unwrap().remove(&self.key(arg)) {
                Some(_) => self.reply("250 deleted")?,
                None => self.reply("550 no such file")?,
            },
            "MKD" | "XMKD" => self.reply(&format!("257 \"{arg}\" created"))?,
            "RMD" | "XRMD" => self.reply("250 removed")?,
            "RNFR" => {
                if self.shared.files.lock().unwrap().contains_key(&self.key(arg)) {
                    self.rename_from = Some(self.key(arg));
                    self.reply("350 ready for RNTO")?
                } else {
                    self.reply("550 no such file")?
                }
            }
            "RNTO" => match self.rename_from.take() {
                Some(from) => {
                    let to = self.key(arg);
                    let mut files = self.shared.files.lock().unwrap();
                    if let Some(bytes) = files.remove(&from) {
                        files.insert(to, bytes);
                    }
                    drop(files);
                    self.reply("250 renamed")?
                }
                None => self.reply("503 RNFR first")?,
            },
            "ABOR" => self.reply("226 nothing to abort")?,
            "QUIT" => {
                self.reply("221 bye")?;
                return Ok(Flow::End);
            }
            _ => self.reply("502 command not implemented")?,
        }
        Ok(Flow::Continue)
    }

    fn listing(&mut self, verb: &str, arg: &str) -> io::Result<()> {
        if let Some(line) = &self.shared.script.endless_listing {
            let sockets = self.sockets.clone();
            let block = line.repeat((64 * 1024 / line.len()).max(1));
            return self.transfer(|data| loop {
                if sockets.stopping() {
                    return Ok(());
                }
                data.write_all(&block)?;
            });
        }
        let body = if self.shared.script.garbage_listing {
            let mut junk = b"\xff\xfe\xfd not utf-8\r\nnul\0inside\r\nbare\rcr\r\n\r\n../../etc/passwd\r\n".to_vec();
            junk.extend(std::iter::repeat_n(b'n', 64 * 1024));
            junk.extend_from_slice(b"\r\n\x1b[31mescape\x1b[0m\r\n");
            junk
        } else {
            // Options like `-la` are not paths.
            let dir = if arg.starts_with('-') || arg.is_empty() { self.cwd.clone() } else { self.path(arg) };
            let prefix = dir.trim_matches('/').to_string();
            let files = self.shared.files.lock().unwrap();
            let mut entries: Vec<(String, Option<usize>)> = Vec::new();
            // A file lists as itself, named as the client named it.
            if let Some(data) = files.get(&prefix) {
                entries.push((arg.to_string(), Some(data.len())));
            }
            for (key, data) in files.iter() {
                let rest = if prefix.is_empty() { Some(key.as_str()) } else { key.strip_prefix(&format!("{prefix}/")) };
                let Some(rest) = rest else { continue };
                let entry = match rest.split_once('/') {
                    Some((dir, _)) => (dir.to_string(), None),
                    None => (rest.to_string(), Some(data.len())),
                };
                if !entries.contains(&entry) {
                    entries.push(entry);
                }
            }
            let mut body = String::new();
            for (name, size) in entries {
                if verb == "LIST" {
                    let (kind, size) = match size {
                        Some(size) => ('-', size),
                        None => ('d', 4096),
                    };
                    body.push_str(&format!("{kind}rw-r--r-- 1 ftp ftp {size} Jan 01 00:00 {name}\r\n"));
                } else {
                    body.push_str(&name);
                    body.push_str("\r\n");
                }
            }
            body.into_bytes()
        };
        self.transfer(|data| data.write_all(&body))
    }

    fn retr(&mut self, arg: &str) -> io::Result<()> {
        let offset = std::mem::take(&mut self.rest) as usize;
        let file = self.shared.files.lock().unwrap().get(&self.key(arg)).cloned();
        if let Some(stall) = self.shared.script.stall_retr_after {
            let mut bytes = file.unwrap_or_default();
            bytes.resize(stall, 0);
            self.reply("150 opening data connection")?;
            let Some(mut data) = self.accept_data() else { return self.reply("425 no data connection") };
            let _ = data.write_all(&bytes);
            // Stall: hold the data connection open, send nothing more.
            let _ = io::copy(&mut data, &mut io::sink());
            return self.reply("426 connection closed; transfer aborted");
        }
        let Some(file) = file else { return self.reply("550 no such file") };
        let bytes = file.get(offset.min(file.len())..).unwrap_or_default().to_vec();
        self.transfer(|data| data.write_all(&bytes))
    }

    fn stor(&mut self, verb: &str, arg: &str) -> io::Result<()> {
        let offset = std::mem::take(&mut self.rest) as usize;
        let key = self.key(arg);
        if self.shared.script.stall_stor {
            self.reply("150 opening data connection")?;
            let data = self.accept_data();
            while !self.sockets.stopping() {
                thread::sleep(POLL);
            }
            drop(data);
            return Ok(());
        }
        let mut received = Vec::new();
        let slow = self.shared.script.slow_stor;
        self.transfer(|data| match slow {
            false => data.read_to_end(&mut received).map(|_| ()),
            true => {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match data.read(&mut buf)? {
                        0 => return Ok(()),
                        n => received.extend_from_slice(&buf[..n]),
                    }
                    thread::sleep(Duration::from_millis(1));
                }
            }
        })?;
        let mut files = self.shared.files.lock().unwrap();
        let file = files.entry(key).or_default();
        match verb {
            "APPE" => file.extend_from_slice(&received),
            _ => {
                file.truncate(offset);
                file.extend_from_slice(&received);
            }
        }
        Ok(())
    }

    /// `150`, the data connection, `io`, close, `226` (or `425`/`426`).
    fn transfer(&mut self, io: impl FnOnce(&mut TcpStream) -> io::Result<()>) -> io::Result<()> {
        self.reply("150 opening data connection")?;
        let Some(mut data) = self.accept_data() else { return self.reply("425 no data connection") };
        let moved = io(&mut data);
        let _ = data.shutdown(Shutdown::Both);
        drop(data);
        match moved {
            Ok(()) => self.reply("226 transfer complete"),
            Err(_) => self.reply("426 connection closed; transfer aborted"),
        }
    }

    /// The data connection of the last `PASV`/`EPSV`, waiting up to the
    /// script's data timeout. Each `PASV` serves one transfer.
    fn accept_data(&mut self) -> Option<TcpStream> {
        self.data.take()?.accept(self.shared.script.data_timeout)
    }

    /// `arg` as an absolute path, `/`-separated, without `.`/`..` resolution
    /// (a hostile server does not care).
    fn path(&self, arg: &str) -> String {
        if arg.starts_with('/') {
            arg.to_string()
        } else if self.cwd.ends_with('/') {
            format!("{}{arg}", self.cwd)
        } else {
            format!("{}/{arg}", self.cwd)
        }
    }

    /// The key of `arg` in the file map: its absolute path without the leading `/`.
    fn key(&self, arg: &str) -> String {
        self.path(arg).trim_start_matches('/').to_string()
    }

    fn reply(&mut self, line: &str) -> io::Result<()> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())
    }
}

/// The code a well-behaved reply to `verb` would have (for `Act::HugeLine`
/// and `Act::EndlessMultiline`).
fn normal_code(verb: &str) -> &'static str {
    match verb {
        "USER" => "331",
        "PASS" => "230",
        "PWD" | "XPWD" | "MKD" | "XMKD" => "257",
        "CWD" | "XCWD" | "CDUP" | "DELE" | "RMD" => "250",
        "PASV" => "227",
        "EPSV" => "229",
        "SIZE" | "MDTM" => "213",
        "NLST" | "LIST" | "RETR" | "STOR" | "APPE" => "150",
        "REST" | "RNFR" => "350",
        "AUTH" => "234",
        "QUIT" => "221",
        "FEAT" => "211",
        "SYST" => "215",
        _ => "200",
    }
}
