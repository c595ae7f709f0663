//! What an idle `wss://` connection's TLS holds on the heap, counted by the allocator
//! (not RSS, which moves with malloc's arenas): every live byte the server side of 200
//! handshaken, then idle, connections keeps beyond what the same connections hold
//! without TLS. The benchmark (scenario C of `ibws-bench`) measures the whole process;
//! this pins the part TLS adds, which must stay small.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use ibws_bridge::tls_stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const N: usize = 200;

fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().self_signed(&key).unwrap();
    let server = ibws_bridge::tls::server_config(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
    let client = ibws_bridge::tls::client_config(Some(cert.pem().as_bytes())).unwrap();
    (server, client)
}

/// Live heap bytes per connection that the server side keeps after each connection
/// exchanged a request and an answer and the clients went quiet.
async fn per_connection(tls: bool) -> f64 {
    let (server_cfg, client_cfg) = configs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut servers: Vec<Box<dyn std::any::Any>> = Vec::new();
    let mut clients = Vec::new();
    let mut plain_clients = Vec::new();
    for _ in 0..=N {
        let connect = async {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            if tls {
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                let mut c = tokio_rustls::TlsConnector::from(client_cfg.clone()).connect(name, tcp).await.unwrap();
                c.write_all(b"subscribe").await.unwrap();
                c.flush().await.unwrap();
                let mut ack = [0u8; 2];
                c.read_exact(&mut ack).await.unwrap();
                clients.push(c);
            } else {
                tcp.write_all(b"subscribe").await.unwrap();
                let mut ack = [0u8; 2];
                tcp.read_exact(&mut ack).await.unwrap();
                plain_clients.push(tcp);
            }
        };
        let accept = async {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 9];
            if tls {
                let mut s = tls_stream::accept(tcp, server_cfg.clone()).await.unwrap();
                s.read_exact(&mut req).await.unwrap();
                s.write_all(b"ok").await.unwrap();
                s.flush().await.unwrap();
                Box::new(s) as Box<dyn std::any::Any>
            } else {
                let mut s = tcp;
                s.read_exact(&mut req).await.unwrap();
                s.write_all(b"ok").await.unwrap();
                Box::new(s) as Box<dyn std::any::Any>
            }
        };
        let ((), s) = tokio::join!(connect, accept);
        servers.push(s);
    }
    // the client sides are this process's too: count what the servers hold, by
    // dropping the clients first and the servers last
    drop(clients);
    drop(plain_clients);
    let servers_only = LIVE.load(Ordering::Relaxed);
    let held = servers.len();
    drop(servers);
    let none = LIVE.load(Ordering::Relaxed);
    assert_eq!(held, N + 1);
    (servers_only - none) as f64 / held as f64
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_tls_connection_holds_little_beyond_its_socket() {
    let plain = per_connection(false).await;
    let tls = per_connection(true).await;
    eprintln!(
        "live heap per idle server connection: plain {plain:.0} B, tls {tls:.0} B, tls adds {:.0} B",
        tls - plain
    );
    assert!(tls - plain < 4096.0, "TLS adds {:.0} B per idle connection", tls - plain);
}

/// The connection object every idle TLS connection keeps whole (rustls's own is
/// 1,088 bytes of it): a change that makes it larger shows here.
#[test]
fn the_tls_stream_object_stays_small() {
    let size = std::mem::size_of::<tls_stream::TlsStream<tokio::net::TcpStream>>();
    assert!(size <= 1280, "TlsStream grew to {size} bytes");
}
