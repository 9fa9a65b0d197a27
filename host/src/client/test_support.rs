//! What the tests of the threads that move a transfer between its data
//! connection and a file share ([`super::plain_copy`],
//! [`super::tls_save`]): a loopback connection, a server that sends a
//! download and ends it, a meter that counts, and a file that already holds
//! a few bytes before the transfer's offset.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

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
