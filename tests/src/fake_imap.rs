//! A scripted IMAP server on 127.0.0.1 for what a real one will not do on
//! demand: break the protocol, fall silent, or check exactly what a client
//! sent for AUTHENTICATE. Each connection gets the greeting, then every
//! command line the client sends goes to the script, which returns what to
//! write back (`None`: say nothing and let the client wait).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Decides the answer to one command line (without its CRLF); the tag is
/// the line's first word.
pub type Script = dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync;

pub struct FakeImap {
    pub port: u16,
    /// Every line the clients sent, in order.
    pub received: Arc<Mutex<Vec<String>>>,
}

impl FakeImap {
    /// Serves `greeting` (sent as is; `None`: silence) then `script`.
    pub fn start(greeting: Option<&[u8]>, script: Box<Script>) -> FakeImap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding on loopback");
        let port = listener.local_addr().expect("bound").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let greeting = greeting.map(<[u8]>::to_vec);
        let script: Arc<Script> = Arc::from(script);
        {
            let received = received.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (greeting, script, received) =
                        (greeting.clone(), script.clone(), received.clone());
                    std::thread::spawn(move || serve(stream, greeting, &*script, &received));
                }
            });
        }
        FakeImap { port, received }
    }

    pub fn received(&self) -> Vec<String> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn serve(
    mut stream: TcpStream,
    greeting: Option<Vec<u8>>,
    script: &Script,
    received: &Mutex<Vec<String>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    match greeting {
        Some(greeting) => {
            if stream.write_all(&greeting).is_err() {
                return;
            }
        }
        None => {
            // Silent: hold the connection open until the client gives up.
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
    }
    let Ok(reader) = stream.try_clone() else { return };
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else { return };
        let line = line.trim_end_matches('\r').to_string();
        if let Ok(mut all) = received.lock() {
            all.push(line.clone());
        }
        match script(&line) {
            Some(reply) => {
                if stream.write_all(&reply).is_err() {
                    return;
                }
            }
            None => std::thread::sleep(Duration::from_secs(30)),
        }
    }
}

/// The tag of a command line.
pub fn tag(line: &str) -> &str {
    line.split(' ').next().unwrap_or_default()
}
