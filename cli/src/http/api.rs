//! The JSON API: `/api/members`, `/api/routes` and `/api/topology` (one
//! query of the node each), and `/api/events`, the `watch` feed as
//! server-sent events. Each answers for the cluster the admin socket
//! serves: the held one, else the only one (503 otherwise).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::Value;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use super::{text, whole, Body, Served, State};
use crate::admin::handlers;
use crate::output::{self, Names};
use crate::topology::Topology;

/// The node the API answers for, or the reason there is none.
async fn target(st: &State) -> Result<Served, Response<Body>> {
    st.source
        .target()
        .await
        .map_err(|why| text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")))
}

fn json(v: &Value) -> Response<Body> {
    whole(StatusCode::OK, "application/json", v.to_string())
}

fn stopped() -> Response<Body> {
    text(StatusCode::SERVICE_UNAVAILABLE, "the agent's node is not running\n")
}

/// `/api/members`: what `members --json` prints.
pub(super) async fn members(st: &State) -> Response<Body> {
    let node = match target(st).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let Ok(mut rows) = node.handle.query(handlers::members_traffic).await else {
        return stopped();
    };
    if let Some(own) = rows.first_mut() {
        own.member.link_addr = handlers::reachable_addr(own.member.link_addr);
    }
    json(&Value::Array(
        rows.iter().map(|r| output::member_traffic_json(&r.member, Some(&r.traffic))).collect(),
    ))
}

/// `/api/routes`: what `routes --json` prints.
pub(super) async fn routes(st: &State) -> Response<Body> {
    let node = match target(st).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let answer = node.handle.query(|n| (handlers::members(n), handlers::routes(n))).await;
    let Ok((members, routes)) = answer else { return stopped() };
    let names = Names::from_members(&members);
    json(&Value::Array(routes.iter().map(|r| output::route_json(r, &names)).collect()))
}

/// `/api/topology`: [`Topology::to_json`].
pub(super) async fn topology(st: &State) -> Response<Body> {
    let node = match target(st).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let cluster = node.cluster.clone();
    match node.handle.query(move |n| Topology::of(n, &cluster)).await {
        Ok(t) => json(&t.to_json()),
        Err(_) => stopped(),
    }
}

/// `/api/events`: every event `watch --json` prints, one `data:` line of
/// JSON each, from the moment of the request; a comment every 15 s keeps
/// proxies from closing the stream.
pub(super) async fn events(st: &State) -> Response<Body> {
    let Ok(permit) = st.event_clients.clone().try_acquire_owned() else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "too many event clients\n");
    };
    let node = match target(st).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let Ok(members) = node.handle.query(handlers::members).await else { return stopped() };
    let mut names = Names::from_members(&members);
    let mut feed = node.hub.subscribe();
    let (tx, rx) = mpsc::channel::<Bytes>(st.limits.event_queue.max(1));
    let _ = tx.try_send(Bytes::from_static(b"retry: 2000\n: connected\n\n"));
    tokio::spawn(async move {
        let mut keepalive = tokio::time::interval(Duration::from_secs(15));
        keepalive.tick().await;
        loop {
            let chunk = tokio::select! {
                ev = feed.recv() => match ev {
                    Some(ev) => {
                        if let netcluster_control::admin::AdminEvent::PeerUp(m)
                        | netcluster_control::admin::AdminEvent::PeerUpdated(m) = &ev
                        {
                            names.learn(m.node_id, &m.name);
                        }
                        let v = output::event_json(&ev, &names);
                        Bytes::from(format!("data: {v}\n\n"))
                    }
                    None => break,
                },
                _ = keepalive.tick() => Bytes::from_static(b": keepalive\n\n"),
                () = tx.closed() => break,
            };
            // A client this far behind is let go rather than allowed to
            // hold the agent's event feed back.
            if tx.try_send(chunk).is_err() {
                break;
            }
        }
    });
    let body = EventBody { rx, _permit: permit };
    let mut r = Response::new(body.boxed());
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The body of `/api/events`: chunks until the feed ends; holds one of the
/// event clients' places until the client goes.
struct EventBody {
    rx: mpsc::Receiver<Bytes>,
    _permit: OwnedSemaphorePermit,
}

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::events::EventHub;
    use crate::http::{HttpLimits, Source};
    use netcluster_control::admin::AdminEvent;
    use netcluster_tokio::{BeaconMode, Builder, NodeId};
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    /// An events client that never reads is let go; the agent's event feed
    /// goes on at full speed, and its place is given back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_never_reads_does_not_hold_the_feed_back() {
        let handle = Builder::new(format!("sse-{}", std::process::id()), "a")
            .bind_ip(std::net::Ipv4Addr::LOCALHOST.into())
            .link_port(0)
            .beacons(BeaconMode::Off)
            .start()
            .await
            .unwrap();
        // A hub as small as the agent's default would take long to fill.
        let hub = EventHub::start(&handle, 8);
        let limits = HttpLimits { event_queue: 4, max_event_clients: 1, ..HttpLimits::default() };
        let st = State {
            source: Source::Node(Served {
                cluster: "c".into(),
                handle: handle.clone(),
                hub: hub.clone(),
            }),
            event_clients: Arc::new(Semaphore::new(1)),
            connections: Arc::new(Semaphore::new(1)),
            limits,
        };
        let stalled = events(&st).await;
        assert_eq!(stalled.status(), StatusCode::OK);
        assert_eq!(events(&st).await.status(), StatusCode::SERVICE_UNAVAILABLE, "one place only");
        // Far more events than the hub's and the client's queues hold.
        let publish = async {
            for i in 0..1_000u32 {
                let group = format!("g{i}").as_str().into();
                hub.publish(AdminEvent::Joined { node_id: NodeId([1; 16]), group }).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), publish)
            .await
            .expect("the feed was held back by a client that does not read");
        // The stalled stream ends (its body yields its queue, then nothing),
        // and once its body is dropped the place is free again.
        let rest = tokio::time::timeout(Duration::from_secs(20), stalled.into_body().collect())
            .await
            .expect("the stalled stream to end");
        assert!(rest.is_ok_and(|r| !r.to_bytes().is_empty()));
        assert_eq!(events(&st).await.status(), StatusCode::OK);
        handle.shutdown().await;
    }
}
