//! The resolver against a scripted DNS server on loopback: what dnsmasq
//! cannot be made to do (truncate, lie about ids, send garbage, alias).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::*;

type Script = dyn Fn(&Message, bool) -> Vec<Vec<u8>> + Send + Sync;

/// A DNS server on 127.0.0.1 (UDP and TCP on one port) answering each
/// query with the datagrams `script(query, over_tcp)` returns; counts TCP
/// connections.
async fn fake(script: Arc<Script>) -> (SocketAddr, Arc<AtomicUsize>) {
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let tcp_count = Arc::new(AtomicUsize::new(0));
    let s = script.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            let q = Message::from_vec(&buf[..n]).unwrap();
            for answer in s(&q, false) {
                let _ = udp.send_to(&answer, from).await;
            }
        }
    });
    let count = tcp_count.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let len = stream.read_u16().await.unwrap();
            let mut buf = vec![0u8; usize::from(len)];
            stream.read_exact(&mut buf).await.unwrap();
            let q = Message::from_vec(&buf).unwrap();
            for answer in script(&q, true) {
                let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&answer);
                let _ = stream.write_all(&framed).await;
            }
        }
    });
    (addr, tcp_count)
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn reply(q: &Message, records: Vec<Record>, additionals: Vec<Record>) -> Message {
    let mut m = Message::response(q.metadata.id, OpCode::Query);
    m.add_queries(q.queries.clone());
    m.add_answers(records);
    m.add_additionals(additionals);
    m
}

fn srv(owner: &str, prio: u16, weight: u16, port: u16, target: &str) -> Record {
    Record::from_rdata(name(owner), 60, RData::SRV(SRV::new(prio, weight, port, name(target))))
}

fn a(owner: &str, ip: [u8; 4], ttl: u32) -> Record {
    Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::from(ip))))
}

const SRV_NAME: &str = "_nc._tcp.example.test.";

fn limits() -> SrvLimits {
    SrvLimits { timeout: Duration::from_secs(2), ..SrvLimits::default() }
}

#[tokio::test]
async fn truncated_answers_are_asked_again_over_tcp() {
    let script: Arc<Script> = Arc::new(|q: &Message, tcp: bool| {
        let full = reply(
            q,
            vec![srv(SRV_NAME, 1, 1, 7001, "n1.example.test.")],
            vec![a("n1.example.test.", [127, 0, 0, 9], 30)],
        );
        if tcp {
            vec![full.to_vec().unwrap()]
        } else {
            let mut short = reply(q, vec![], vec![]);
            short.metadata.truncation = true;
            vec![short.to_vec().unwrap()]
        }
    });
    let (server, tcp) = fake(script).await;
    let res = resolve_srv(SRV_NAME, server, limits()).await.unwrap();
    assert_eq!(res.addrs(), [SocketAddr::from(([127, 0, 0, 9], 7001))]);
    assert_eq!(res.ttl, Duration::from_secs(30), "the smallest TTL, the glue's");
    assert_eq!(tcp.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn targets_without_glue_are_looked_up_and_answers_to_others_ignored() {
    let script: Arc<Script> = Arc::new(|q: &Message, _| {
        let qname = q.queries[0].name().clone();
        let answer = match q.queries[0].query_type() {
            RecordType::SRV => reply(
                q,
                vec![srv(SRV_NAME, 1, 0, 7001, "n1.example.test."), srv(SRV_NAME, 2, 0, 7002, ".")],
                vec![],
            ),
            RecordType::A => reply(q, vec![a(&qname.to_ascii(), [127, 0, 0, 7], 60)], vec![]),
            _ => {
                let aaaa = RData::AAAA(AAAA(Ipv6Addr::LOCALHOST));
                reply(q, vec![Record::from_rdata(qname, 60, aaaa)], vec![])
            }
        };
        // First an answer with another id (a late or forged one).
        let mut other = answer.clone();
        other.metadata.id = q.metadata.id.wrapping_add(1);
        other.answers.clear();
        vec![other.to_vec().unwrap(), answer.to_vec().unwrap()]
    });
    let (server, _) = fake(script).await;
    let res = resolve_srv(SRV_NAME, server, limits()).await.unwrap();
    assert_eq!(res.targets.len(), 1, "a target of `.` is left out");
    let addrs = res.addrs();
    assert!(addrs.contains(&SocketAddr::from(([127, 0, 0, 7], 7001))), "{addrs:?}");
    assert!(addrs.contains(&SocketAddr::from((Ipv6Addr::LOCALHOST, 7001))), "{addrs:?}");
}

#[tokio::test]
async fn srv_behind_an_alias_is_followed() {
    let script: Arc<Script> = Arc::new(|q: &Message, _| {
        let alias = name("_nc._tcp.real.test.");
        let cname = Record::from_rdata(name(SRV_NAME), 60, RData::CNAME(CNAME(alias.clone())));
        let answers = vec![cname, srv("_nc._tcp.real.test.", 1, 1, 7009, "n9.real.test.")];
        vec![reply(q, answers, vec![a("n9.real.test.", [127, 0, 0, 1], 60)]).to_vec().unwrap()]
    });
    let (server, _) = fake(script).await;
    let res = resolve_srv(SRV_NAME, server, limits()).await.unwrap();
    assert_eq!(res.addrs(), [SocketAddr::from(([127, 0, 0, 1], 7009))]);
}

#[tokio::test]
async fn bad_answers_give_typed_errors() {
    let garbage: Arc<Script> = Arc::new(|q: &Message, _| {
        // The right id, then nonsense: decoding fails.
        let mut v = q.metadata.id.to_be_bytes().to_vec();
        v.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 9]);
        vec![v]
    });
    let (server, _) = fake(garbage).await;
    match resolve_srv(SRV_NAME, server, limits()).await {
        Err(DnsError::Malformed { .. }) => {}
        other => panic!("expected malformed, got {other:?}"),
    }

    let servfail: Arc<Script> = Arc::new(|q: &Message, _| {
        let mut m = reply(q, vec![], vec![]);
        m.metadata.response_code = ResponseCode::ServFail;
        vec![m.to_vec().unwrap()]
    });
    let (server, _) = fake(servfail).await;
    match resolve_srv(SRV_NAME, server, limits()).await {
        Err(DnsError::Server { rcode, .. }) => assert!(rcode.contains("Fail"), "{rcode}"),
        other => panic!("expected a server error, got {other:?}"),
    }

    let only_dot: Arc<Script> = Arc::new(|q: &Message, _| {
        vec![reply(q, vec![srv(SRV_NAME, 0, 0, 0, ".")], vec![]).to_vec().unwrap()]
    });
    let (server, _) = fake(only_dot).await;
    match resolve_srv(SRV_NAME, server, limits()).await {
        Err(DnsError::NoRecords { .. }) => {}
        other => panic!("expected no records, got {other:?}"),
    }
}

#[tokio::test]
async fn a_closed_port_is_an_io_error_not_a_hang() {
    let port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap().local_addr().unwrap();
    // The socket is closed: the kernel answers "port unreachable".
    match resolve_srv(SRV_NAME, port, limits()).await {
        Err(DnsError::Io { .. } | DnsError::Timeout { .. }) => {}
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn resolv_conf_first_nameserver() {
    let text = "# comment\nsearch example.org\nnameserver fe80::1%eth0\nnameserver 10.0.0.1\n";
    assert_eq!(
        nameserver_from_resolv_conf(text),
        Some(SocketAddr::new("fe80::1".parse().unwrap(), 53))
    );
    assert_eq!(
        nameserver_from_resolv_conf("nameserver 192.0.2.53"),
        Some(SocketAddr::from(([192, 0, 2, 53], 53)))
    );
    assert_eq!(nameserver_from_resolv_conf("nameserver bogus\n"), None);
    assert_eq!(nameserver_from_resolv_conf(""), None);
}
