//! A small authoritative DNS server on 127.0.0.1 (UDP) for `doctor`'s MX
//! check: it answers MX queries from a table, "no records" for a domain
//! that exists without MX, and NXDOMAIN for everything else.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::MX;
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The zone the server answers for: domain → MX (preference, exchange);
/// an empty list is a domain that exists but has no MX.
pub type Zone = HashMap<String, Vec<(u16, String)>>;

pub struct DnsServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(zone: Zone) -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("binding a UDP port on loopback");
        socket.set_read_timeout(Some(Duration::from_millis(100))).expect("read timeout");
        let addr = socket.local_addr().expect("a bound address");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || serve(&socket, &zone, &stop))
        };
        DnsServer { addr, stop, thread: Some(thread) }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(socket: &UdpSocket, zone: &Zone, stop: &AtomicBool) {
    let mut buffer = [0u8; 1500];
    while !stop.load(Ordering::SeqCst) {
        let Ok((length, peer)) = socket.recv_from(&mut buffer) else { continue };
        let Ok(query) = Message::from_vec(&buffer[..length]) else { continue };
        if let Some(answer) = answer(&query, zone).and_then(|m| m.to_vec().ok()) {
            let _ = socket.send_to(&answer, peer);
        }
    }
}

fn answer(query: &Message, zone: &Zone) -> Option<Message> {
    let question = query.queries().first()?.clone();
    let domain = question.name().to_utf8().trim_end_matches('.').to_ascii_lowercase();
    let mut response = Message::new();
    response
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true)
        .add_query(question.clone());
    match zone.get(&domain) {
        None => {
            response.set_response_code(ResponseCode::NXDomain);
        }
        Some(records) => {
            response.set_response_code(ResponseCode::NoError);
            if question.query_type() == RecordType::MX {
                for (preference, exchange) in records {
                    let exchange = Name::from_ascii(format!("{exchange}.")).ok()?;
                    response.add_answer(Record::from_rdata(
                        question.name().clone(),
                        300,
                        RData::MX(MX::new(*preference, exchange)),
                    ));
                }
            }
        }
    }
    Some(response)
}
