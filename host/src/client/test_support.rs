//! What the tests of the threads that move a transfer's bytes on its data
//! connection share ([`super::plain_copy`], [`super::tls_copy`],
//! [`super::pump`]): a loopback connection, plain or TLS, a server that
//! sends a download and ends it, a meter that counts, and a file that
//! already holds a few bytes before the transfer's offset.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::wire::DataParts;

/// A loopback connection: (the server's side, the client's side).
pub async fn connection() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (server, client)
}

/// `n` bytes that differ from their neighbours and from one chunk to the next.
pub fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 + i / 4099) as u8).collect()
}

/// Send `bytes`, then close the connection: the end of the download.
pub fn serve(mut server: TcpStream, bytes: Vec<u8>) -> JoinHandle<()> {
    tokio::spawn(async move { server.write_all(&bytes).await.unwrap() })
}

/// A meter that accepts every byte, and the count it keeps.
pub fn counting_meter() -> (Arc<Mutex<usize>>, impl FnMut(usize) -> Result<(), String> + Send + 'static) {
    let counted = Arc::new(Mutex::new(0usize));
    let meter = {
        let counted = counted.clone();
        move |n: usize| -> Result<(), String> {
            *counted.lock().unwrap() += n;
            Ok(())
        }
    };
    (counted, meter)
}

/// The bytes a file holds before a transfer's offset.
pub const KEEP: &[u8] = b"keep";

/// A temporary file holding [`KEEP`].
pub fn file_with_prefix() -> std::fs::File {
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, KEEP).unwrap();
    file
}

/// Assert that `file` holds [`KEEP`], then `sent`, and nothing more.
pub fn assert_saved(file: &std::fs::File, sent: &[u8]) {
    use std::os::unix::fs::FileExt;
    let mut got = vec![0; KEEP.len() + sent.len()];
    file.read_exact_at(&mut got, 0).unwrap();
    assert_eq!(file.metadata().unwrap().len(), got.len() as u64);
    assert_eq!(&got[..KEEP.len()], KEEP);
    assert!(got[KEEP.len()..] == sent[..], "the file holds the download after the offset");
}

/// Whether the descriptor's file description is non-blocking, as tokio
/// needs its stream.
pub fn non_blocking(fd: &impl std::os::fd::AsFd) -> bool {
    let flags = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()), libc::F_GETFL) };
    flags & libc::O_NONBLOCK != 0
}

/// The server's side of a TLS connection.
pub type TlsServer = rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>;

/// A TLS connection over loopback with its handshake done: the server's
/// side runs `serve` on a thread of its own; the client's side is
/// non-blocking, as the runtime keeps a data connection.
pub fn tls_connection<T: Send + 'static>(
    serve: impl FnOnce(TlsServer) -> T + Send + 'static,
) -> (std::thread::JoinHandle<T>, std::net::TcpStream, rustls::ClientConnection) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![key.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(key.cert.der().clone()).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut socket = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut conn = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut socket).unwrap();
        }
        serve(rustls::StreamOwned::new(conn, socket))
    });
    let mut conn = rustls::ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap()).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut socket).unwrap();
    }
    socket.set_nonblocking(true).unwrap();
    (server, socket, conn)
}

/// Read what the client sends until it ends the connection.
pub fn receive_all(mut server: TlsServer) -> Vec<u8> {
    let mut got = Vec::new();
    // An end without close_notify is an error; what came before it counts.
    let _ = std::io::Read::read_to_end(&mut server, &mut got);
    got
}

/// The client's side of a TLS connection, as a thread that receives or
/// sends a transfer takes it.
pub struct TlsClient {
    pub socket: TcpStream,
    pub conn: rustls::ClientConnection,
}

impl DataParts for TlsClient {
    fn parts(&mut self) -> (&mut TcpStream, Option<&mut rustls::ClientConnection>) {
        (&mut self.socket, Some(&mut self.conn))
    }
}

impl TlsClient {
    /// End the connection as a transfer's `finish` does: close_notify,
    /// the write side shut, and what the server sent (TLS 1.3 session
    /// tickets) read until it closes, so the close resets nothing still
    /// unsent.
    pub fn close(mut self) {
        self.conn.send_close_notify();
        let mut socket = self.socket.into_std().expect("the stream is the runtime's again");
        socket.set_nonblocking(false).unwrap();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut socket).unwrap();
        }
        socket.shutdown(std::net::Shutdown::Write).unwrap();
        let _ = std::io::Read::read_to_end(&mut socket, &mut Vec::new());
    }
}

/// A TLS connection whose server runs `serve` on its own thread.
pub fn tls_client<T: Send + 'static>(
    serve: impl FnOnce(TlsServer) -> T + Send + 'static,
) -> (std::thread::JoinHandle<T>, TlsClient) {
    let (server, socket, conn) = tls_connection(serve);
    (server, TlsClient { socket: TcpStream::from_std(socket).unwrap(), conn })
}

/// A server that sends `bytes`, then close_notify, and closes.
pub fn sending(bytes: Vec<u8>) -> impl FnOnce(TlsServer) + Send + 'static {
    move |mut server| {
        std::io::Write::write_all(&mut server, &bytes).unwrap();
        server.conn.send_close_notify();
        std::io::Write::flush(&mut server).unwrap();
    }
}
