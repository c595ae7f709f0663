//! A TLS server stream that holds no buffer while its connection is idle.
//!
//! tokio-rustls over rustls's buffered connection keeps a 4 KiB record buffer per
//! connection for as long as the connection lives (rustls re-sizes its deframer to a
//! full read whenever it is empty), plus the connection's queues: at 10,000 idle
//! `wss://` clients that was most of their memory. This stream drives rustls's
//! *unbuffered* API instead and owns the buffers: a read lands on the stack of the
//! poll that reads it and is decrypted there; only the bytes of a record that has not
//! fully arrived, plaintext the caller has not taken yet, and encrypted bytes the
//! socket has not taken yet are kept on the heap, each freed as soon as it empties.
//! An idle connection is the rustls state (keys, the handshake's outcome) and the
//! socket.
//!
//! Bounds: a partial record is at most one TLS record (16 KiB + overhead); plaintext
//! kept is at most what one read decrypted; encrypted output waiting for the socket is
//! at most [`MAX_PENDING_OUT`] before `poll_write` pushes back.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, InsufficientSizeError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from the socket per poll, on the stack: a full TLS record and its header.
const READ_CHUNK: usize = 16 * 1024 + 512;

/// Encrypted bytes that may wait for the socket before `poll_write` accepts no more.
pub const MAX_PENDING_OUT: usize = 64 * 1024;

/// The largest plaintext written as one record (TLS's limit).
const MAX_RECORD_PLAINTEXT: usize = 16 * 1024;

/// Where processing the received records left the connection.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// More bytes from the peer are needed (handshake in progress, or a record cut).
    NeedRead,
    /// Application data may be written.
    Open,
    /// Both sides have said close_notify.
    Closed,
}

pub struct TlsStream<IO> {
    io: IO,
    conn: UnbufferedServerConnection,
    /// Received bytes of a record not yet complete (empty, unallocated, when none).
    partial: Vec<u8>,
    /// Decrypted bytes the caller has not read yet, from `plain_at`.
    plain: Vec<u8>,
    plain_at: usize,
    /// Encrypted bytes the socket has not taken yet, from `out_at`.
    out: Vec<u8>,
    out_at: usize,
    peer_closed: bool,
    eof: bool,
    close_queued: bool,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Runs the server side of the handshake on `io`.
pub async fn accept<IO>(io: IO, config: Arc<rustls::ServerConfig>) -> io::Result<TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
    let mut s = TlsStream {
        io,
        conn,
        partial: Vec::new(),
        plain: Vec::new(),
        plain_at: 0,
        out: Vec::new(),
        out_at: 0,
        peer_closed: false,
        eof: false,
        close_queued: false,
    };
    poll_fn(|cx| s.poll_handshake(cx)).await?;
    Ok(s)
}

/// Appends what `encode` writes to `out`, growing it to the size rustls asks for.
fn append(
    out: &mut Vec<u8>,
    hint: usize,
    mut encode: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> io::Result<()> {
    let start = out.len();
    let mut room = hint;
    loop {
        out.resize(start + room, 0);
        match encode(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(Some(required)) if required > room => room = required,
            Err(_) => {
                out.truncate(start);
                return Err(io::Error::other("TLS record encoding failed"));
            }
        }
    }
}

fn encode_size(e: EncodeError) -> Option<usize> {
    match e {
        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => Some(required_size),
        _ => None,
    }
}

fn encrypt_size(e: EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => Some(required_size),
        _ => None,
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// Processes the records in `data` (decrypting in place): application data goes to
    /// `plain`, handshake and alert bytes owed to the peer to `out`. Returns where the
    /// connection stands and how many bytes of `data` were used; the rest is a record
    /// that has not fully arrived.
    fn process(&mut self, data: &mut [u8], mut write: Write<'_>) -> io::Result<(Step, usize)> {
        let mut used = 0;
        loop {
            let status = self.conn.process_tls_records(&mut data[used..]);
            let discard = status.discard;
            let state = status.state.map_err(tls_error)?;
            let step = match state {
                ConnectionState::ReadTraffic(mut r) => {
                    while let Some(record) = r.next_record() {
                        let record = record.map_err(tls_error)?;
                        self.plain.extend_from_slice(record.payload);
                    }
                    None
                }
                ConnectionState::ReadEarlyData(mut r) => {
                    while let Some(record) = r.next_record() {
                        let record = record.map_err(tls_error)?;
                        self.plain.extend_from_slice(record.payload);
                    }
                    None
                }
                ConnectionState::EncodeTlsData(mut e) => {
                    append(&mut self.out, 1024, |buf| e.encode(buf).map_err(encode_size))?;
                    None
                }
                // the bytes are in `out`, in order, ahead of anything written later
                ConnectionState::TransmitTlsData(t) => {
                    t.done();
                    None
                }
                ConnectionState::BlockedHandshake => Some(Step::NeedRead),
                ConnectionState::WriteTraffic(mut w) => {
                    match std::mem::replace(&mut write, Write::Nothing) {
                        Write::Nothing => {}
                        Write::Data(plain, out) => {
                            // a record's header, content type and tag on top of its plaintext
                            let hint = plain.len() + 64 * plain.len().div_ceil(MAX_RECORD_PLAINTEXT).max(1);
                            append(out, hint, |buf| w.encrypt(plain, buf).map_err(encrypt_size))?;
                        }
                        Write::CloseNotify => {
                            append(&mut self.out, 64, |buf| w.queue_close_notify(buf).map_err(encrypt_size))?
                        }
                    }
                    Some(Step::Open)
                }
                ConnectionState::PeerClosed => {
                    self.peer_closed = true;
                    None
                }
                ConnectionState::Closed => Some(Step::Closed),
                _ => return Err(io::Error::other("TLS connection in a state this stream does not drive")),
            };
            used += discard;
            if let Some(step) = step {
                return Ok((step, used));
            }
        }
    }

    /// Processes what is buffered (a partial record completed by a read, or nothing).
    fn process_partial(&mut self) -> io::Result<Step> {
        let mut partial = std::mem::take(&mut self.partial);
        let result = self.process(&mut partial, Write::Nothing);
        if let Ok((_, used)) = &result {
            partial.drain(..*used);
            if !partial.is_empty() {
                self.partial = partial;
            }
        }
        result.map(|(step, _)| step)
    }

    /// Reads once from the socket and processes the records that completes.
    /// `Ready(Ok(false))` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        if buf.filled().is_empty() {
            self.eof = true;
            return Poll::Ready(Ok(false));
        }
        if self.partial.is_empty() {
            // the common case: whole records, decrypted where they were read
            let read = buf.filled_mut();
            let (_, used) = self.process(read, Write::Nothing)?;
            if used < read.len() {
                self.partial = read[used..].to_vec();
            }
        } else {
            self.partial.extend_from_slice(buf.filled());
            self.process_partial()?;
        }
        Poll::Ready(Ok(true))
    }

    /// Writes the encrypted bytes waiting, until done or the socket pushes back.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_at < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_at += n;
        }
        self.out = Vec::new();
        self.out_at = 0;
        Poll::Ready(Ok(()))
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let step = self.process_partial()?;
            ready!(self.poll_drain(cx))?;
            match step {
                Step::Open => return Poll::Ready(Ok(())),
                Step::Closed => return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into())),
                Step::NeedRead => {
                    if !ready!(self.poll_fill(cx))? {
                        return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                    }
                }
            }
        }
    }

    /// Encrypts `data` into `out` once the connection is ready for application data.
    /// Whatever rustls owes first (a session ticket, a key update, plaintext that
    /// arrived) is handled on the way by `process`, whose every state is drained, never
    /// dropped half done; in the usual case the first state is the write itself.
    fn encrypt(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match self.process(&mut [], Write::Data(data, out))?.0 {
            Step::Open => Ok(()),
            _ => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Queues close_notify (once).
    fn queue_close(&mut self) -> io::Result<()> {
        if self.close_queued {
            return Ok(());
        }
        self.close_queued = true;
        self.process(&mut [], Write::CloseNotify).map(|_| ())
    }

    /// Encrypts `data` and starts writing it. The record is sealed into the thread's
    /// [`scratch`](crate::scratch) buffer; with nothing waiting for the socket (the
    /// usual case) it goes to the socket from there, and the connection keeps only what
    /// the socket did not take. Otherwise it queues behind what waits, which includes
    /// anything rustls owed the peer and wrote to `out` while sealing.
    fn write_now(&mut self, cx: &mut Context<'_>, data: &[u8]) -> io::Result<()> {
        let mut sealed = crate::scratch::tls_bytes();
        let result = self.encrypt(data, &mut sealed).and_then(|()| self.send_sealed(cx, &sealed));
        crate::scratch::give_tls_bytes(sealed);
        result
    }

    fn send_sealed(&mut self, cx: &mut Context<'_>, sealed: &[u8]) -> io::Result<()> {
        if self.out_at < self.out.len() {
            self.out.extend_from_slice(sealed);
            // start the write now; what the socket does not take waits for the flush
            if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
                return Err(e);
            }
            return Ok(());
        }
        let mut at = 0;
        while at < sealed.len() {
            match Pin::new(&mut self.io).poll_write(cx, &sealed[at..]) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => at += n,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => break,
            }
        }
        // the rest waits for the flush
        self.out.extend_from_slice(&sealed[at..]);
        Ok(())
    }
}

/// What [`TlsStream::process`] writes once the connection is open for writing.
enum Write<'a> {
    Nothing,
    /// This plaintext, sealed, appended to this buffer.
    Data(&'a [u8], &'a mut Vec<u8>),
    /// close_notify, appended to `out`.
    CloseNotify,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.plain_at < this.plain.len() {
                let n = buf.remaining().min(this.plain.len() - this.plain_at);
                buf.put_slice(&this.plain[this.plain_at..this.plain_at + n]);
                this.plain_at += n;
                if this.plain_at == this.plain.len() {
                    this.plain = Vec::new();
                    this.plain_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.peer_closed || this.eof {
                return Poll::Ready(Ok(()));
            }
            // bytes owed to the peer (a ticket, a key update answer) go out as we read;
            // a socket that does not take them now gets them with the next write
            if this.out_at < this.out.len() {
                let _ = this.poll_drain(cx)?;
            }
            if !ready!(this.poll_fill(cx))? {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() - this.out_at >= MAX_PENDING_OUT {
            ready!(this.poll_drain(cx))?;
        }
        if this.close_queued {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let n = data.len().min(MAX_PENDING_OUT);
        this.write_now(cx, &data[..n])?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_queued && !this.eof {
            // a peer already gone gets no close_notify; the socket is shut all the same
            let _ = this.queue_close();
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A self-signed certificate for localhost and ibws's server config on it.
    fn server() -> (rcgen::Certificate, Arc<rustls::ServerConfig>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().self_signed(&key).unwrap();
        let server = crate::tls::server_config(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
        (cert, server)
    }

    fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        let (cert, server) = server();
        let client = crate::tls::client_config(Some(cert.pem().as_bytes())).unwrap();
        (server, client)
    }

    async fn pair() -> (TlsStream<tokio::net::TcpStream>, tokio_rustls::client::TlsStream<tokio::net::TcpStream>) {
        let (server, client) = configs();
        pair_with(server, client).await
    }

    async fn pair_with(
        server: Arc<rustls::ServerConfig>,
        client: Arc<rustls::ClientConfig>,
    ) -> (TlsStream<tokio::net::TcpStream>, tokio_rustls::client::TlsStream<tokio::net::TcpStream>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connect = async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            tokio_rustls::TlsConnector::from(client).connect(name, tcp).await.unwrap()
        };
        let accept = async move {
            let (tcp, _) = listener.accept().await.unwrap();
            accept(tcp, server).await.unwrap()
        };
        tokio::join!(accept, connect)
    }

    #[tokio::test]
    async fn data_crosses_both_ways_in_any_size_and_nothing_is_held_after() {
        let (mut server, mut client) = pair().await;
        // larger than a record and than a read, and one byte
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for data in [big.clone(), vec![42u8]] {
            let write = {
                let data = data.clone();
                async move {
                    client.write_all(&data).await.unwrap();
                    client.flush().await.unwrap();
                    client
                }
            };
            let read = async {
                let mut got = vec![0u8; data.len()];
                server.read_exact(&mut got).await.unwrap();
                got
            };
            let (c, got) = tokio::join!(write, read);
            client = c;
            assert_eq!(got, data);
        }
        for data in [big, vec![7u8]] {
            let write = async {
                server.write_all(&data).await.unwrap();
                server.flush().await.unwrap();
            };
            let read = async {
                let mut got = vec![0u8; data.len()];
                client.read_exact(&mut got).await.unwrap();
                got
            };
            let ((), got) = tokio::join!(write, read);
            assert_eq!(got, data);
        }
        // idle: no buffer kept
        assert_eq!((server.partial.capacity(), server.plain.capacity(), server.out.capacity()), (0, 0, 0));
    }

    #[tokio::test]
    async fn aes_128_gcm_unless_the_client_asks_for_another_first() {
        let (_server, client) = pair().await;
        let suite = client.get_ref().1.negotiated_cipher_suite().map(|s| s.suite());
        assert_eq!(suite, Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256));

        // a client that puts ChaCha20 first gets it
        let (cert, server) = server();
        let mut chacha_first = rustls::crypto::ring::default_provider();
        chacha_first.cipher_suites.sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(chacha_first))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (_server, client) = pair_with(server, Arc::new(client)).await;
        let suite = client.get_ref().1.negotiated_cipher_suite().map(|s| s.suite());
        assert_eq!(suite, Some(rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256));
    }

    #[tokio::test]
    async fn a_key_update_asked_for_is_answered_before_the_next_record() {
        let (mut server, mut client) = pair().await;
        for round in 0..3u8 {
            // the client's KeyUpdate asks for ours: rustls owes it when we next write,
            // and it must reach the client ahead of that record (which is under the
            // new key)
            client.get_mut().1.refresh_traffic_keys().unwrap();
            client.write_all(&[round; 5]).await.unwrap();
            client.flush().await.unwrap();
            let mut got = [0u8; 5];
            server.read_exact(&mut got).await.unwrap();
            assert_eq!(got, [round; 5]);
            server.write_all(&[round + 10; 300]).await.unwrap();
            server.flush().await.unwrap();
            let mut back = [0u8; 300];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(back, [round + 10; 300]);
        }
    }

    #[tokio::test]
    async fn writes_behind_a_full_socket_queue_in_order() {
        let (mut server, mut client) = pair().await;
        // far more than the socket buffers hold while the client does not read: writes
        // find bytes still waiting and queue behind them
        const PIECES: u32 = 6_000;
        let writer = tokio::spawn(async move {
            for i in 0..PIECES {
                let piece: Vec<u8> = (0..1_000u32).map(|j| ((i * 31 + j) % 251) as u8).collect();
                server.write_all(&piece).await.unwrap();
            }
            server.flush().await.unwrap();
            server
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut got = vec![0u8; PIECES as usize * 1_000];
        client.read_exact(&mut got).await.unwrap();
        for (i, piece) in got.chunks(1_000).enumerate() {
            let want: Vec<u8> = (0..1_000u32).map(|j| ((i as u32 * 31 + j) % 251) as u8).collect();
            assert_eq!(piece, &want[..], "piece {i}");
        }
        let server = writer.await.unwrap();
        assert_eq!(server.out.capacity(), 0, "nothing kept once the socket took it all");
    }

    #[tokio::test]
    async fn reads_in_small_pieces_get_every_byte() {
        let (mut server, mut client) = pair().await;
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
        let send = data.clone();
        let writer = tokio::spawn(async move {
            for piece in send.chunks(777) {
                client.write_all(piece).await.unwrap();
            }
            client.flush().await.unwrap();
            client
        });
        let mut got = Vec::new();
        let mut small = [0u8; 13];
        while got.len() < data.len() {
            let n = server.read(&mut small).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, data);
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn close_notify_both_ways() {
        let (mut server, mut client) = pair().await;
        client.shutdown().await.unwrap();
        let mut buf = [0u8; 10];
        assert_eq!(server.read(&mut buf).await.unwrap(), 0, "the peer's close_notify is the end");
        server.write_all(b"last").await.unwrap();
        server.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last");
    }

    #[tokio::test]
    async fn a_client_that_is_not_tls_is_refused() {
        let (server, _) = configs();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let _ = tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest).await;
        });
        let (tcp, _) = listener.accept().await.unwrap();
        assert!(accept(tcp, server).await.is_err());
        client.await.unwrap();
    }
}
