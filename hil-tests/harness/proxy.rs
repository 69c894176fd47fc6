//! A TCP proxy on loopback between dockgate and the broker, to stage network faults the
//! broker alone cannot: bytes from the client silently lost (PUBACKs that never arrive) and
//! a connection cut on both sides.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running proxy; stops (and cuts every connection) when dropped.
pub struct TcpProxy {
    addr: SocketAddr,
    drop_upstream: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `127.0.0.1:target_port`.
    pub async fn start(target_port: u16) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let drop_upstream = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (flag, conns) = (drop_upstream.clone(), connections.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                    continue; // the client sees its connection closed
                };
                let handle = tokio::spawn(pipe(client, server, flag.clone()));
                conns.lock().expect("proxy state poisoned").push(handle);
            }
        });
        TcpProxy {
            addr,
            drop_upstream,
            connections,
            task,
        }
    }

    /// The proxy's port (what dockgate connects to).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// While `true`, bytes from the client to the server are read and thrown away; the
    /// other direction still flows.
    pub fn drop_upstream(&self, on: bool) {
        self.drop_upstream.store(on, Ordering::SeqCst);
    }

    /// Closes every proxied connection on both sides.
    pub fn cut(&self) {
        for h in self
            .connections
            .lock()
            .expect("proxy state poisoned")
            .drain(..)
        {
            h.abort();
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

/// Copies both ways until either side closes (or the task is aborted, which drops both).
async fn pipe(client: TcpStream, server: TcpStream, drop_upstream: Arc<AtomicBool>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if !drop_upstream.load(Ordering::SeqCst)
                        && sw.write_all(&buf[..n]).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if cw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
