//! An axum app served on 127.0.0.1 for the emulators, from a thread with a
//! runtime of its own, so tests with or without an async runtime use it
//! alike. Plain HTTP, or TLS with a given acceptor. Stops when dropped.

use std::time::Duration;

pub struct HttpServer {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Serves `app`; with `tls`, every connection is a TLS one.
    pub fn start(app: axum::Router, tls: Option<tokio_rustls::TlsAcceptor>) -> HttpServer {
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("test-http-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the test server");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("binding the test server on loopback");
                    let port = listener.local_addr().expect("a bound address").port();
                    let _ = port_tx.send(port);
                    let stop = async {
                        let _ = stop_rx.await;
                    };
                    let _ = match tls {
                        None => axum::serve(listener, app).with_graceful_shutdown(stop).await,
                        Some(acceptor) => {
                            let tls = TlsListener { tcp: listener, acceptor };
                            axum::serve(tls, app).with_graceful_shutdown(stop).await
                        }
                    };
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("starting the test server's thread");
        let port = port_rx.recv().expect("the test server reports its port");
        HttpServer { port, stop: Some(stop_tx), thread: Some(thread) }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts TLS connections for axum, skipping handshakes that fail (a
/// client that rejects the certificate).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else { continue };
            if let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(tcp)).await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
