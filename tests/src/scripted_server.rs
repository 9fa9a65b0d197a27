//! The socket plumbing the scripted FTP servers ([`crate::hostile_server`],
//! [`crate::iis_server`]) share, so that each of them holds only what its
//! server says.
//!
//! [`Plumbing`] owns a control listener on `127.0.0.1` and its accept
//! thread, hands each control connection to the server's own `serve` on a
//! thread of its own, opens passive data listeners ([`Sockets::data_listener`]),
//! records every command line and counts every connection. Dropping it stops
//! every thread and shuts down every socket it accepted, which unblocks the
//! threads still reading or writing them.
//!
//! Synchronous std threads only: usable from plain `#[test]`s and from async
//! tests alike.

use std::io::{self, BufRead, Read};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often the accept loops look for new connections and for a stop.
pub const POLL: Duration = Duration::from_millis(5);

/// A scripted server's listener, threads and sockets. See the module
/// documentation.
pub struct Plumbing {
    addr: SocketAddr,
    sockets: Arc<Sockets>,
    thread: Option<JoinHandle<()>>,
}

/// What every connection's thread shares with the server: the stop flag,
/// the command log, the counters and the accepted sockets.
pub struct Sockets {
    ip: IpAddr,
    stop: AtomicBool,
    commands: Mutex<Vec<String>>,
    control_connections: AtomicUsize,
    /// Control connections open now, and the most ever open at once.
    open_controls: AtomicUsize,
    max_open_controls: AtomicUsize,
    data_connections: AtomicUsize,
    /// Every socket accepted, to shut down on drop.
    accepted: Mutex<Vec<TcpStream>>,
}

impl Plumbing {
    /// Listen on `127.0.0.1`, on a free port, and run `serve` for each
    /// control connection on a thread of its own (`name` names the accept
    /// thread, with the port).
    pub fn start(name: &str, serve: impl Fn(&Arc<Sockets>, TcpStream) + Send + Sync + 'static) -> Plumbing {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let listener = TcpListener::bind((ip, 0)).expect("scripted server listener binds");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let sockets = Arc::new(Sockets {
            ip,
            stop: AtomicBool::new(false),
            commands: Mutex::new(Vec::new()),
            control_connections: AtomicUsize::new(0),
            open_controls: AtomicUsize::new(0),
            max_open_controls: AtomicUsize::new(0),
            data_connections: AtomicUsize::new(0),
            accepted: Mutex::new(Vec::new()),
        });
        let accepting = sockets.clone();
        let serve = Arc::new(serve);
        let thread = thread::Builder::new()
            .name(format!("{name}-{}", addr.port()))
            .spawn(move || {
                while !accepting.stopping() {
                    let Ok((stream, _)) = listener.accept() else {
                        thread::sleep(POLL);
                        continue;
                    };
                    accepting.control_connections.fetch_add(1, Ordering::SeqCst);
                    if !accepting.keep(&stream) {
                        continue;
                    }
                    let open = accepting.open_controls.fetch_add(1, Ordering::SeqCst) + 1;
                    accepting.max_open_controls.fetch_max(open, Ordering::SeqCst);
                    let (sockets, serve) = (accepting.clone(), serve.clone());
                    thread::spawn(move || {
                        serve(&sockets, stream);
                        sockets.open_controls.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            })
            .unwrap();
        Plumbing { addr, sockets, thread: Some(thread) }
    }

    /// The control connection's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn sockets(&self) -> &Sockets {
        &self.sockets
    }
}

impl Drop for Plumbing {
    fn drop(&mut self) {
        self.sockets.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for socket in self.sockets.accepted.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

impl Sockets {
    /// Whether the server is being dropped.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Read one command line of at most `max` bytes into `line` (cleared
    /// first), record it, and return it without its CR LF (lossy UTF-8).
    /// `None` at the end of the connection, or for a line without its LF
    /// (too long, or the client went away mid-line).
    pub fn read_command(&self, reader: &mut impl BufRead, max: u64, line: &mut Vec<u8>) -> io::Result<Option<String>> {
        line.clear();
        if reader.take(max).read_until(b'\n', line)? == 0 || !line.ends_with(b"\n") {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(line).trim_end_matches(['\r', '\n']).to_string();
        self.commands.lock().unwrap().push(text.clone());
        Ok(Some(text))
    }

    /// Every command line received so far, on every connection, in order,
    /// without the CR LF (lossy UTF-8).
    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }

    /// Whether a command with this verb (`"DELE"`, case-insensitive) arrived.
    pub fn received(&self, verb: &str) -> bool {
        self.commands().iter().any(|line| verb_of(line).eq_ignore_ascii_case(verb))
    }

    /// Control connections accepted so far.
    pub fn control_connections(&self) -> usize {
        self.control_connections.load(Ordering::SeqCst)
    }

    /// The most control connections that were ever open at the same time
    /// (a connection counts from its accept until the server has seen it
    /// closed, or closed it).
    pub fn max_concurrent_control_connections(&self) -> usize {
        self.max_open_controls.load(Ordering::SeqCst)
    }

    /// Connections accepted so far on the data listeners (the real ones,
    /// whatever the `PASV` replies said).
    pub fn data_connections(&self) -> usize {
        self.data_connections.load(Ordering::SeqCst)
    }

    /// Remember `stream` for shutdown on drop; false if the server is stopping.
    fn keep(&self, stream: &TcpStream) -> bool {
        let _ = stream.set_nonblocking(false);
        let mut accepted = self.accepted.lock().unwrap();
        if self.stopping() {
            let _ = stream.shutdown(Shutdown::Both);
            return false;
        }
        if let Ok(clone) = stream.try_clone() {
            accepted.push(clone);
        }
        true
    }

    /// Open a data listener on the control listener's IP, accepting (and
    /// counting) connections until the server stops or the returned port is
    /// dropped (by the transfer that used it, the next `PASV`, or the end of
    /// the control connection).
    pub fn data_listener(self: &Arc<Self>) -> io::Result<(SocketAddr, DataPort)> {
        let listener = TcpListener::bind((self.ip, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::channel();
        let closed = Arc::new(AtomicBool::new(false));
        let port = DataPort { rx, closed: closed.clone(), sockets: self.clone() };
        let sockets = self.clone();
        thread::spawn(move || {
            while !sockets.stopping() && !closed.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        sockets.data_connections.fetch_add(1, Ordering::SeqCst);
                        if sockets.keep(&stream) {
                            let _ = tx.send(stream);
                        }
                    }
                    Err(_) => thread::sleep(POLL),
                }
            }
        });
        Ok((addr, port))
    }
}

/// The receiving end of a data listener; dropping it closes the listener.
pub struct DataPort {
    rx: Receiver<TcpStream>,
    closed: Arc<AtomicBool>,
    sockets: Arc<Sockets>,
}

impl DataPort {
    /// The client's data connection, waiting up to `timeout`; `None` if it
    /// did not come or the server is stopping.
    pub fn accept(self, timeout: Duration) -> Option<TcpStream> {
        let deadline = Instant::now() + timeout;
        while !self.sockets.stopping() {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(stream) => return Some(stream),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
        None
    }
}

impl Drop for DataPort {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

/// The first word of a command line (`"RETR"` of `"RETR a.txt"`).
pub fn verb_of(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

/// The `h1,h2,h3,h4,p1,p2` of a `227` reply naming `addr` (an IPv6 address,
/// which `PASV` cannot name, as `127,0,0,1`).
pub fn pasv_address(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) => ip.octets(),
        IpAddr::V6(_) => [127, 0, 0, 1],
    };
    let port = addr.port();
    format!("{},{},{},{},{},{}", ip[0], ip[1], ip[2], ip[3], port >> 8, port & 0xff)
}
