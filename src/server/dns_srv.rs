//! DNS SRV lookups for `--discovery-srv`, the way the system's stub resolver
//! makes them: the nameservers, timeout and attempts of /etc/resolv.conf,
//! one UDP query at a time, TCP when the answer comes back truncated.
//! Blocking: it runs once, at first start, before anything is served.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, PacketFlag, Question, CLASS, QCLASS, QTYPE, RCODE, TYPE};

const RESOLV_CONF: &str = "/etc/resolv.conf";
const DNS_PORT: u16 = 53;

/// An SRV record's target host (no trailing dot) and port.
pub type SrvTarget = (String, u16);

/// The SRV records of `name`, lowest priority first, through the
/// nameservers of /etc/resolv.conf.
pub fn lookup_srv(name: &str) -> Result<Vec<SrvTarget>, String> {
    let conf = std::fs::read(RESOLV_CONF)
        .ok()
        .and_then(|bytes| resolv_conf::Config::parse(bytes).ok())
        .unwrap_or_default();
    let servers: Vec<SocketAddr> = conf
        .get_nameservers_or_local()
        .into_iter()
        .map(|ip| SocketAddr::new(IpAddr::from(ip), DNS_PORT))
        .collect();
    let timeout = Duration::from_secs(u64::from(conf.timeout.max(1)));
    let mut last_error = format!("lookup {name}: no nameserver");
    for _ in 0..conf.attempts.max(1) {
        for server in &servers {
            match query(*server, name, timeout) {
                Ok(answer) => {
                    return answer.map_err(|err| format!("lookup {name} on {server}: {err}"))
                }
                Err(err) => last_error = format!("lookup {name} on {server}: {err}"),
            }
        }
    }
    Err(last_error)
}

/// One exchange with `server`: `Err` when it did not answer usably (try
/// the next), `Ok(answer)` when it did, the answer possibly "no such host".
fn query(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Result<Vec<SrvTarget>, String>, String> {
    let id = query_id();
    let request = build_query(id, name)?;
    let socket = UdpSocket::bind(match server {
        SocketAddr::V4(_) => "0.0.0.0:0",
        SocketAddr::V6(_) => "[::]:0",
    })
    .map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    socket.connect(server).map_err(|e| e.to_string())?;
    socket.send(&request).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    let reply = loop {
        let n = socket.recv(&mut buf).map_err(|e| e.to_string())?;
        // A stray datagram (an earlier query's late answer) is skipped.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            break buf[..n].to_vec();
        }
    };
    let packet = Packet::parse(&reply).map_err(|e| e.to_string())?;
    if packet.has_flags(PacketFlag::TRUNCATION) {
        return query_tcp(server, &request, id, timeout);
    }
    Ok(answer_of(&packet))
}

/// The same query over TCP (an answer too large for UDP).
fn query_tcp(
    server: SocketAddr,
    request: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Result<Vec<SrvTarget>, String>, String> {
    let mut stream = TcpStream::connect_timeout(&server, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(request.len()).map_err(|e| e.to_string())?;
    stream
        .write_all(&len.to_be_bytes())
        .map_err(|e| e.to_string())?;
    stream.write_all(request).map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(|e| e.to_string())?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).map_err(|e| e.to_string())?;
    let packet = Packet::parse(&reply).map_err(|e| e.to_string())?;
    if packet.id() != id {
        return Err("answer to another query".into());
    }
    Ok(answer_of(&packet))
}

fn build_query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    let qname = Name::new(name.trim_end_matches('.')).map_err(|e| e.to_string())?;
    packet.questions.push(Question::new(
        qname,
        QTYPE::TYPE(TYPE::SRV),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet.build_bytes_vec().map_err(|e| e.to_string())
}

/// The SRV records of a reply, or why there are none (Go's wording).
fn answer_of(packet: &Packet<'_>) -> Result<Vec<SrvTarget>, String> {
    match packet.rcode() {
        RCODE::NoError => {}
        RCODE::NameError => return Err("no such host".into()),
        _ => return Err("server misbehaving".into()),
    }
    let mut records: Vec<(u16, SrvTarget)> = packet
        .answers
        .iter()
        .filter_map(|record| match &record.rdata {
            RData::SRV(srv) => Some((srv.priority, (srv.target.to_string(), srv.port))),
            _ => None,
        })
        .collect();
    if records.is_empty() {
        return Err("no such host".into());
    }
    // Stable: equal priorities keep the server's order.
    records.sort_by_key(|(priority, _)| *priority);
    Ok(records.into_iter().map(|(_, target)| target).collect())
}

/// A query id that differs between queries and processes.
fn query_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ std::process::id()) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::SRV;
    use simple_dns::ResourceRecord;

    /// A nameserver on loopback that answers one query with `targets`
    /// (or NXDOMAIN when empty).
    fn one_shot_server(targets: &'static [(&'static str, u16, u16)]) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = socket.recv_from(&mut buf).unwrap();
            let query = Packet::parse(&buf[..n]).unwrap();
            let mut reply = Packet::new_reply(query.id());
            reply.questions = query.questions.clone();
            if targets.is_empty() {
                *reply.rcode_mut() = RCODE::NameError;
            }
            for (host, port, priority) in targets {
                reply.answers.push(ResourceRecord::new(
                    query.questions[0].qname.clone(),
                    CLASS::IN,
                    300,
                    RData::SRV(SRV {
                        priority: *priority,
                        weight: 0,
                        port: *port,
                        target: Name::new(host).unwrap(),
                    }),
                ));
            }
            socket
                .send_to(&reply.build_bytes_vec().unwrap(), from)
                .unwrap();
        });
        addr
    }

    #[test]
    fn srv_records_come_back_lowest_priority_first() {
        let server = one_shot_server(&[
            ("m2.example.com", 2380, 10),
            ("m1.example.com", 2380, 0),
            ("m3.example.com", 12380, 10),
        ]);
        let answer = query(
            server,
            "_etcd-server._tcp.example.com.",
            Duration::from_secs(5),
        );
        assert_eq!(
            answer,
            Ok(Ok(vec![
                ("m1.example.com".to_string(), 2380),
                ("m2.example.com".to_string(), 2380),
                ("m3.example.com".to_string(), 12380),
            ]))
        );
    }

    #[test]
    fn a_missing_name_is_no_such_host() {
        let server = one_shot_server(&[]);
        let answer = query(
            server,
            "_etcd-server._tcp.example.com",
            Duration::from_secs(5),
        );
        assert_eq!(answer, Ok(Err("no such host".to_string())));
    }

    #[test]
    fn a_silent_server_times_out() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let answer = query(
            silent.local_addr().unwrap(),
            "_etcd-server._tcp.example.com",
            Duration::from_millis(100),
        );
        assert!(answer.is_err(), "{answer:?}");
    }
}
