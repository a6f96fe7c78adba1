//! A follower's way to the leader's lessor: the peer service's lease RPCs on
//! the leader's peer URLs.
//!
//! The members' URLs follow the applied membership: the applier reports
//! every change (`UpdatePeers`), and a leader not known yet (a follower that
//! learns the new leader before it applies the entry adding it) is looked up
//! in the store's member list. Channels are kept per URL, so a member that
//! moves gets a fresh one and a removed member's channel is dropped.
//!
//! Forwarding retries as etcd's does: while no leader is known it waits an
//! election timeout and looks again, and answers "no leader" at the request
//! deadline; a known leader's URLs are tried in turn until one answers,
//! else "request timed out" at the deadline. Nothing failed is remembered:
//! the next request starts afresh.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use actix::prelude::*;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use super::{KeepAlive, LeaseStatus, Lessor, TimeToLive};
use crate::actors::protocol::UpdatePeers;
use crate::actors::ServerError;
use crate::proto::etcdserverpb::{LeaseKeepAliveRequest, LeaseTimeToLiveRequest};
use crate::proto::oxcdpeer::peer_client::PeerClient;

/// Pause between rounds over a known leader's URLs that all failed, so a
/// refused connection does not spin.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// How long dialling one URL may take before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long forwarding keeps trying.
#[derive(Debug, Clone, Copy)]
pub struct ForwardTimes {
    /// Wait this long before looking for a leader again.
    pub election_timeout: Duration,
    /// Give up after this long (etcd's request timeout).
    pub request_timeout: Duration,
}

/// The members' peer URLs and a channel per URL.
#[derive(Default)]
pub struct LeaderLink {
    urls: HashMap<u64, Vec<String>>,
    channels: HashMap<String, Channel>,
}

impl LeaderLink {
    pub fn new(peer_urls: Vec<(u64, Vec<String>)>) -> Self {
        LeaderLink {
            urls: peer_urls.into_iter().collect(),
            channels: HashMap::new(),
        }
    }

    pub fn update(&mut self, change: UpdatePeers) {
        match change {
            UpdatePeers::Set(id, urls) => {
                if let Some(old) = self.urls.insert(id, urls) {
                    self.drop_channels(&old);
                }
            }
            UpdatePeers::Remove(id) => {
                if let Some(old) = self.urls.remove(&id) {
                    self.drop_channels(&old);
                }
            }
        }
    }

    pub fn knows(&self, id: u64) -> bool {
        self.urls.contains_key(&id)
    }

    /// A client per peer URL of `id`, in order; `None` for an unknown member.
    pub fn clients(&mut self, id: u64) -> Option<Vec<PeerClient<Channel>>> {
        let urls = self.urls.get(&id)?.clone();
        let clients = urls
            .iter()
            .filter_map(|url| self.channel(url))
            .map(PeerClient::new)
            .collect::<Vec<_>>();
        (!clients.is_empty()).then_some(clients)
    }

    fn channel(&mut self, url: &str) -> Option<Channel> {
        if let Some(channel) = self.channels.get(url) {
            return Some(channel.clone());
        }
        let channel = crate::peer_dial::connect_lazy(
            Endpoint::from_shared(url.to_string())
                .ok()?
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_nodelay(true),
        );
        self.channels.insert(url.to_string(), channel.clone());
        Some(channel)
    }

    fn drop_channels(&mut self, urls: &[String]) {
        let still_used = |url: &String| self.urls.values().any(|urls| urls.contains(url));
        let stale: Vec<String> = urls.iter().filter(|u| !still_used(u)).cloned().collect();
        for url in stale {
            self.channels.remove(&url);
        }
    }
}

/// Where a lease request should go right now.
pub enum Route {
    /// This member's lessor is primary.
    Local,
    /// The leader's lessor, through any of these.
    Leader(Vec<PeerClient<Channel>>),
    /// No leader known (or not yet in this member's member list).
    Unknown,
}

/// Asks the lessor where a lease request should go.
#[derive(Message)]
#[rtype(result = "Route")]
pub struct RouteToLeader;

/// Renews lease `id` through whoever is primary; (TTL, revision).
pub async fn keep_alive(
    lessor: Addr<Lessor>,
    times: ForwardTimes,
    id: i64,
) -> Result<(i64, i64), ServerError> {
    let remote = move |mut client: PeerClient<Channel>| async move {
        let resp = client
            .lease_keep_alive(LeaseKeepAliveRequest { id })
            .await?
            .into_inner();
        Ok((resp.ttl, revision_of(resp.header)))
    };
    let local = KeepAlive {
        id,
        forwarded: true,
    };
    via_primary(lessor, times, remote, local).await
}

/// Lease `id`'s status (None: unknown) and the revision, from whoever is
/// primary.
pub async fn time_to_live(
    lessor: Addr<Lessor>,
    times: ForwardTimes,
    id: i64,
    keys: bool,
) -> Result<(Option<LeaseStatus>, i64), ServerError> {
    let remote = move |mut client: PeerClient<Channel>| async move {
        let resp = client
            .lease_time_to_live(LeaseTimeToLiveRequest { id, keys })
            .await?
            .into_inner();
        let status = (resp.ttl != -1).then_some(LeaseStatus {
            granted_ttl: resp.granted_ttl,
            remaining_ttl: resp.ttl,
            keys: resp.keys,
        });
        Ok((status, revision_of(resp.header)))
    };
    let local = TimeToLive {
        id,
        keys,
        forwarded: true,
    };
    via_primary(lessor, times, remote, local).await
}

/// `remote` on the leader, or `local` (marked forwarded, so it is never
/// sent on again) to this member's lessor once it is primary.
async fn via_primary<T, R, RF, M>(
    lessor: Addr<Lessor>,
    times: ForwardTimes,
    remote: R,
    local: M,
) -> Result<T, ServerError>
where
    R: Fn(PeerClient<Channel>) -> RF,
    RF: Future<Output = Result<T, tonic::Status>>,
    M: Message<Result = Result<T, ServerError>> + Clone + Send + 'static,
    T: Send + 'static,
    Lessor: Handler<M>,
{
    let route = lessor.clone().recipient::<RouteToLeader>();
    let ask_locally = move || {
        let (lessor, local) = (lessor.clone(), local.clone());
        async move { lessor.send(local).await? }
    };
    to_primary(route, times, remote, ask_locally).await
}

fn revision_of(header: Option<crate::proto::etcdserverpb::ResponseHeader>) -> i64 {
    header.map(|h| h.revision).unwrap_or_default()
}

/// Runs `remote` on the leader (or `local` if this member became primary)
/// until it answers, waiting and retrying as the module doc says.
async fn to_primary<T, R, RF, L, LF>(
    route: Recipient<RouteToLeader>,
    times: ForwardTimes,
    remote: R,
    local: L,
) -> Result<T, ServerError>
where
    R: Fn(PeerClient<Channel>) -> RF,
    RF: Future<Output = Result<T, tonic::Status>>,
    L: Fn() -> LF,
    LF: Future<Output = Result<T, ServerError>>,
{
    let deadline = Instant::now() + times.request_timeout;
    loop {
        match route.send(RouteToLeader).await? {
            // Leadership may have moved on between the two messages.
            Route::Local => match local().await {
                Err(ServerError::NoLeader) if Instant::now() < deadline => {}
                answered => return answered,
            },
            Route::Unknown => {
                if Instant::now() >= deadline {
                    return Err(ServerError::NoLeader);
                }
                tokio::time::sleep_until(deadline.min(Instant::now() + times.election_timeout))
                    .await;
            }
            Route::Leader(clients) => {
                for client in clients {
                    let answered = tokio::time::timeout_at(deadline, remote(client)).await;
                    match answered {
                        Ok(Ok(value)) => return Ok(value),
                        Ok(Err(status)) if status.code() == tonic::Code::NotFound => {
                            return Err(ServerError::LeaseNotFound)
                        }
                        Ok(Err(status)) => {
                            tracing::debug!("lease request to the leader failed: {status}")
                        }
                        Err(_) => break,
                    }
                }
                if Instant::now() >= deadline {
                    return Err(ServerError::Timeout);
                }
                tokio::time::sleep_until(deadline.min(Instant::now() + RETRY_PAUSE)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|u| u.to_string()).collect()
    }

    #[tokio::test]
    async fn follows_members_added_moved_and_removed() {
        let mut link = LeaderLink::new(vec![(1, urls(&["http://127.0.0.1:1"]))]);
        assert!(
            link.clients(4).is_none(),
            "a member not added yet is unknown"
        );

        link.update(UpdatePeers::Set(
            4,
            urls(&["http://127.0.0.1:4", "http://127.0.0.1:5"]),
        ));
        assert_eq!(link.clients(4).map(|c| c.len()), Some(2));
        assert!(link.channels.contains_key("http://127.0.0.1:4"));

        link.update(UpdatePeers::Set(4, urls(&["http://127.0.0.1:6"])));
        assert_eq!(link.clients(4).map(|c| c.len()), Some(1));
        assert!(
            !link.channels.contains_key("http://127.0.0.1:4"),
            "stale channel dropped"
        );
        assert!(link.channels.contains_key("http://127.0.0.1:6"));

        link.update(UpdatePeers::Remove(4));
        assert!(link.clients(4).is_none());
        assert!(!link.knows(4));
        assert!(!link.channels.contains_key("http://127.0.0.1:6"));
        assert!(link.knows(1));
    }

    /// Answers `RouteToLeader` from a script, then repeats its last answer.
    struct ScriptedRoutes {
        script: Vec<fn() -> Route>,
        asked: usize,
    }

    impl Actor for ScriptedRoutes {
        type Context = Context<Self>;
    }

    impl Handler<RouteToLeader> for ScriptedRoutes {
        type Result = MessageResult<RouteToLeader>;

        fn handle(&mut self, _: RouteToLeader, _: &mut Context<Self>) -> Self::Result {
            let next = self.script[self.asked.min(self.script.len() - 1)];
            self.asked += 1;
            MessageResult(next())
        }
    }

    fn routes(script: Vec<fn() -> Route>) -> Recipient<RouteToLeader> {
        ScriptedRoutes { script, asked: 0 }.start().recipient()
    }

    const TIMES: ForwardTimes = ForwardTimes {
        election_timeout: Duration::from_millis(50),
        request_timeout: Duration::from_millis(400),
    };

    /// A leader whose only peer URL refuses connections.
    fn unreachable_leader() -> Route {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let mut link = LeaderLink::new(vec![(9, vec![format!("http://127.0.0.1:{port}")])]);
        Route::Leader(link.clients(9).unwrap_or_default())
    }

    async fn forward(route: Recipient<RouteToLeader>) -> Result<i64, ServerError> {
        to_primary(
            route,
            TIMES,
            |mut client: PeerClient<Channel>| async move {
                let asked = LeaseKeepAliveRequest { id: 1 };
                Ok(client.lease_keep_alive(asked).await?.into_inner().ttl)
            },
            || async { Ok(42) },
        )
        .await
    }

    #[actix_rt::test]
    async fn without_a_leader_it_waits_then_answers_no_leader() {
        let started = Instant::now();
        let answer = forward(routes(vec![|| Route::Unknown])).await;
        assert!(matches!(answer, Err(ServerError::NoLeader)), "{answer:?}");
        assert!(started.elapsed() >= TIMES.request_timeout);
    }

    #[actix_rt::test]
    async fn an_unreachable_leader_is_retried_until_the_request_times_out() {
        let answer = forward(routes(vec![unreachable_leader])).await;
        assert!(matches!(answer, Err(ServerError::Timeout)), "{answer:?}");
    }

    #[actix_rt::test]
    async fn a_leader_found_while_waiting_answers() {
        let answer = forward(routes(vec![|| Route::Unknown, unreachable_leader, || {
            Route::Local
        }]))
        .await;
        assert_eq!(answer.ok(), Some(42));
    }

    #[actix_rt::test]
    async fn leadership_lost_between_route_and_answer_is_retried() {
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = asked.clone();
        let local = move || {
            let first = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            async move {
                if first {
                    Err(ServerError::NoLeader)
                } else {
                    Ok(42)
                }
            }
        };
        let remote = |_: PeerClient<Channel>| async { Ok(0) };
        let answer = to_primary(routes(vec![|| Route::Local]), TIMES, remote, local).await;
        assert_eq!(answer.ok(), Some(42));
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[actix_rt::test]
    async fn a_failure_is_not_remembered_by_the_next_request() {
        // A 60 ms budget with 50 ms waits asks at most three times.
        let unknown = || Route::Unknown;
        let route = routes(vec![unknown, unknown, unknown, || Route::Local]);
        let short = ForwardTimes {
            request_timeout: Duration::from_millis(60),
            ..TIMES
        };
        let remote = |_: PeerClient<Channel>| async { Ok(0) };
        let first = to_primary(route.clone(), short, remote, || async { Ok(1) }).await;
        assert!(matches!(first, Err(ServerError::NoLeader)), "{first:?}");
        let second = forward(route).await;
        assert_eq!(second.ok(), Some(42));
    }

    #[tokio::test]
    async fn a_url_another_member_still_uses_keeps_its_channel() {
        let shared = "http://127.0.0.1:7";
        let mut link = LeaderLink::new(vec![(1, urls(&[shared])), (2, urls(&[shared]))]);
        link.clients(1);
        link.update(UpdatePeers::Remove(2));
        assert!(link.channels.contains_key(shared));
    }
}
