//! The etcd v3 services: KV, Watch, Lease, Maintenance and Cluster.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use causeway_store::{Store, WatchCommand, WatchCreate, WatchResponse};
use futures::Stream;
use prost::Message;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::convert::{self, Header};
use crate::metrics::Metrics;
use crate::proto::etcdserverpb as pb;
use crate::status::{REQUEST_TOO_LARGE, to_status};

/// The etcd version causeway reports, so that clients (kube-apiserver
/// among them) turn on the features they gate on 3.5.
pub const ETCD_VERSION: &str = "3.5.16";

/// The state every service shares.
#[derive(Clone, Debug)]
pub struct EtcdService {
    pub(crate) store: Store,
    pub(crate) header: Header,
    pub(crate) max_request_bytes: usize,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) name: String,
    pub(crate) client_urls: Vec<String>,
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

impl EtcdService {
    fn check_size<M: Message>(&self, m: &M) -> Result<(), Status> {
        if m.encoded_len() > self.max_request_bytes {
            return Err(Status::invalid_argument(REQUEST_TOO_LARGE));
        }
        Ok(())
    }

    async fn timed<T>(
        &self,
        method: &'static str,
        f: impl Future<Output = Result<T, Status>>,
    ) -> Result<Response<T>, Status> {
        let started = Instant::now();
        let result = f.await;
        self.metrics.observe(method, started, &result);
        result.map(Response::new)
    }
}

#[tonic::async_trait]
impl pb::kv_server::Kv for EtcdService {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        self.timed("Range", async {
            let r = convert::range_request(request.into_inner())?;
            let resp = self.store.range(r).await.map_err(to_status)?;
            let h = self.header.at(resp.revision);
            Ok(convert::range_response(resp, h))
        })
        .await
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        self.timed("Put", async {
            let p = request.into_inner();
            self.check_size(&p)?;
            let resp = self
                .store
                .put(convert::put_request(p))
                .await
                .map_err(to_status)?;
            let h = self.header.at(resp.revision);
            Ok(convert::put_response(resp, h))
        })
        .await
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        self.timed("DeleteRange", async {
            let d = request.into_inner();
            self.check_size(&d)?;
            let resp = self
                .store
                .delete_range(convert::delete_request(d))
                .await
                .map_err(to_status)?;
            let h = self.header.at(resp.revision);
            Ok(convert::delete_response(resp, h))
        })
        .await
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        self.timed("Txn", async {
            let t = request.into_inner();
            self.check_size(&t)?;
            let resp = self
                .store
                .txn(convert::txn_request(t)?)
                .await
                .map_err(to_status)?;
            let h = self.header.at(resp.revision);
            Ok(convert::txn_response(resp, h))
        })
        .await
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        self.timed("Compact", async {
            let c = request.into_inner();
            let revision = self
                .store
                .compact(c.revision, c.physical)
                .await
                .map_err(to_status)?;
            Ok(pb::CompactionResponse {
                header: self.header.at(revision),
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::lease_server::Lease for EtcdService {
    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        self.timed("LeaseGrant", async {
            let r = request.into_inner();
            let g = self
                .store
                .lease_grant(r.id, r.ttl)
                .await
                .map_err(to_status)?;
            Ok(pb::LeaseGrantResponse {
                header: self.header.at(g.revision),
                id: g.id,
                ttl: g.ttl,
                error: String::new(),
            })
        })
        .await
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        self.timed("LeaseRevoke", async {
            let revision = self
                .store
                .lease_revoke(request.into_inner().id)
                .await
                .map_err(to_status)?;
            Ok(pb::LeaseRevokeResponse {
                header: self.header.at(revision),
            })
        })
        .await
    }

    type LeaseKeepAliveStream = BoxStream<pb::LeaseKeepAliveResponse>;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut incoming = request.into_inner();
        let this = self.clone();
        let out = async_stream::try_stream! {
            while let Some(req) = incoming.next().await {
                let req = req?;
                let started = Instant::now();
                let result = this.store.lease_keep_alive(req.id).await.map_err(to_status);
                this.metrics.observe("LeaseKeepAlive", started, &result);
                let ttl = result?;
                yield pb::LeaseKeepAliveResponse {
                    header: this.header.at(this.store.current_revision()),
                    id: req.id,
                    ttl,
                };
            }
        };
        Ok(Response::new(Box::pin(out)))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        self.timed("LeaseTimeToLive", async {
            let r = request.into_inner();
            let t = self
                .store
                .lease_time_to_live(r.id, r.keys)
                .await
                .map_err(to_status)?;
            Ok(pb::LeaseTimeToLiveResponse {
                header: self.header.at(t.revision),
                id: t.id,
                ttl: t.ttl,
                granted_ttl: t.granted_ttl,
                keys: t.keys.into_iter().map(|k| k.to_vec()).collect(),
            })
        })
        .await
    }

    async fn lease_leases(
        &self,
        _: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        self.timed("LeaseLeases", async {
            let (revision, ids) = self.store.leases().await.map_err(to_status)?;
            self.metrics.leases.set(ids.len() as i64);
            Ok(pb::LeaseLeasesResponse {
                header: self.header.at(revision),
                leases: ids.into_iter().map(|id| pb::LeaseStatus { id }).collect(),
            })
        })
        .await
    }
}

/// Splits a watch response whose events exceed `max` bytes into
/// fragments, as etcd does for watches created with `fragment`.
fn fragments(resp: pb::WatchResponse, max: usize) -> Vec<pb::WatchResponse> {
    if resp.encoded_len() < max || resp.events.len() < 2 {
        return vec![resp];
    }
    let mut out = Vec::new();
    let mut cur = pb::WatchResponse {
        events: Vec::new(),
        fragment: true,
        ..resp.clone()
    };
    for ev in resp.events {
        cur.events.push(ev);
        if cur.events.len() > 1 && cur.encoded_len() >= max {
            let last = cur.events.pop();
            let next = pb::WatchResponse {
                events: last.into_iter().collect(),
                ..cur.clone()
            };
            out.push(std::mem::replace(&mut cur, next));
        }
    }
    cur.fragment = false;
    out.push(cur);
    out
}

#[tonic::async_trait]
impl pb::watch_server::Watch for EtcdService {
    type WatchStream = BoxStream<pb::WatchResponse>;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        use pb::watch_request::RequestUnion;
        let mut incoming = request.into_inner();
        let (commands, mut responses) = self.store.watch().split();
        // Created responses come back in the order the creates went in;
        // this queue pairs each with its request's `fragment` flag.
        let fragment_flags: Arc<Mutex<VecDeque<bool>>> = Arc::default();
        let flags_in = fragment_flags.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            while let Some(Ok(req)) = incoming.next().await {
                let cmd = match req.request_union {
                    Some(RequestUnion::CreateRequest(c)) => {
                        if let Ok(mut q) = flags_in.lock() {
                            q.push_back(c.fragment);
                        }
                        let (mut key, mut range_end) = (c.key, c.range_end);
                        // etcd watches from the smallest key when none is given.
                        if key.is_empty() {
                            key = vec![0];
                        }
                        if range_end.len() == 1 && range_end[0] == 0 {
                            range_end = vec![0];
                        }
                        WatchCommand::Create(WatchCreate {
                            range: convert::key_range(key, range_end),
                            start_revision: c.start_revision,
                            prev_kv: c.prev_kv,
                            no_put: c
                                .filters
                                .contains(&(pb::watch_create_request::FilterType::Noput as i32)),
                            no_delete: c
                                .filters
                                .contains(&(pb::watch_create_request::FilterType::Nodelete as i32)),
                            progress_notify: c.progress_notify,
                            watch_id: c.watch_id,
                        })
                    }
                    Some(RequestUnion::CancelRequest(c)) => WatchCommand::Cancel(c.watch_id),
                    Some(RequestUnion::ProgressRequest(_)) => WatchCommand::Progress,
                    None => continue,
                };
                if commands.send(cmd).is_err() {
                    break;
                }
            }
        });
        let header = self.header;
        let max = self.max_request_bytes;
        let store = self.store.clone();
        metrics.watch_streams.inc();
        let out = async_stream::try_stream! {
            let mut guard = Gauged { metrics: metrics.clone(), watches: 0 };
            let mut fragmenting: HashMap<i64, bool> = HashMap::new();
            while let Some(r) = responses.recv().await {
                let resp = match r {
                    WatchResponse::Created { watch_id, revision, error } => {
                        let fragment = fragment_flags.lock().ok().and_then(|mut q| q.pop_front()).unwrap_or(false);
                        if error.is_none() {
                            fragmenting.insert(watch_id, fragment);
                            metrics.watchers.inc();
                            guard.watches += 1;
                        }
                        pb::WatchResponse {
                            header: header.at(revision),
                            watch_id,
                            created: true,
                            canceled: error.is_some(),
                            cancel_reason: error.unwrap_or_default(),
                            ..Default::default()
                        }
                    }
                    WatchResponse::Events { watch_id, revision, events } => {
                        let resp = pb::WatchResponse {
                            header: header.at(revision),
                            watch_id,
                            events: events.into_iter().map(convert::event).collect(),
                            ..Default::default()
                        };
                        if fragmenting.get(&watch_id).copied().unwrap_or(false) {
                            for f in fragments(resp, max) {
                                yield f;
                            }
                            continue;
                        }
                        resp
                    }
                    WatchResponse::Canceled { watch_id, revision, compact_revision, reason } => {
                        if fragmenting.remove(&watch_id).is_some() {
                            metrics.watchers.dec();
                            guard.watches -= 1;
                        }
                        pb::WatchResponse {
                            header: header.at(revision),
                            watch_id,
                            canceled: true,
                            compact_revision,
                            cancel_reason: reason,
                            ..Default::default()
                        }
                    }
                    WatchResponse::Progress { watch_id, revision } => pb::WatchResponse {
                        header: header.at(revision),
                        watch_id,
                        ..Default::default()
                    },
                };
                yield resp;
            }
            if store.is_closed() {
                Err(Status::unavailable("etcdserver: server stopped"))?;
            }
        };
        Ok(Response::new(Box::pin(out)))
    }
}

/// Counts a watch stream, and the watches still open on it, down when it
/// ends, however it ends: a client that goes away drops the stream without
/// letting it run to its end.
struct Gauged {
    metrics: Arc<Metrics>,
    watches: i64,
}

impl Drop for Gauged {
    fn drop(&mut self) {
        self.metrics.watch_streams.dec();
        self.metrics.watchers.dec_by(self.watches);
    }
}

fn unimplemented(what: &str) -> Status {
    Status::unimplemented(format!(
        "causeway store does not implement {what}: its data lives in a SQL database, which does its own storage management"
    ))
}

#[tonic::async_trait]
impl pb::maintenance_server::Maintenance for EtcdService {
    async fn alarm(
        &self,
        request: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        // No alarms are ever raised: space is the database's business. A
        // GET (etcdctl endpoint health asks) answers the empty list.
        self.timed("Alarm", async {
            if request.into_inner().action != pb::alarm_request::AlarmAction::Get as i32 {
                return Err(unimplemented("activating or deactivating alarms"));
            }
            Ok(pb::AlarmResponse {
                header: self.header.at(self.store.current_revision()),
                alarms: Vec::new(),
            })
        })
        .await
    }

    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        self.timed("Status", async {
            let s = self.store.status().await.map_err(to_status)?;
            self.metrics.db_size.set(s.db_size);
            self.metrics.revision.set(s.revision);
            self.metrics.compact_revision.set(s.compact_revision);
            Ok(pb::StatusResponse {
                header: self.header.at(s.revision),
                version: ETCD_VERSION.to_string(),
                db_size: s.db_size,
                leader: self.header.member_id,
                raft_index: s.revision as u64,
                raft_term: self.header.raft_term,
                raft_applied_index: s.revision as u64,
                errors: Vec::new(),
                db_size_in_use: s.db_size_in_use,
                is_learner: false,
            })
        })
        .await
    }

    async fn defragment(
        &self,
        _: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        self.timed("Defragment", async {
            let revision = self.store.defragment().await.map_err(to_status)?;
            Ok(pb::DefragmentResponse {
                header: self.header.at(revision),
            })
        })
        .await
    }

    async fn hash(
        &self,
        _: Request<pb::HashRequest>,
    ) -> Result<Response<pb::HashResponse>, Status> {
        Err(unimplemented("Hash"))
    }

    async fn hash_kv(
        &self,
        _: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        Err(unimplemented("HashKV"))
    }

    type SnapshotStream = BoxStream<pb::SnapshotResponse>;

    async fn snapshot(
        &self,
        _: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        Err(unimplemented(
            "Snapshot (back up the SQL database with its own tools)",
        ))
    }

    async fn move_leader(
        &self,
        _: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        Err(unimplemented("MoveLeader"))
    }

    async fn downgrade(
        &self,
        _: Request<pb::DowngradeRequest>,
    ) -> Result<Response<pb::DowngradeResponse>, Status> {
        Err(unimplemented("Downgrade"))
    }
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for EtcdService {
    async fn member_add(
        &self,
        _: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        Err(unimplemented(
            "MemberAdd (add causeway store processes on the same database instead)",
        ))
    }

    async fn member_remove(
        &self,
        _: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        Err(unimplemented("MemberRemove"))
    }

    async fn member_update(
        &self,
        _: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        Err(unimplemented("MemberUpdate"))
    }

    async fn member_list(
        &self,
        _: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        self.timed("MemberList", async {
            // etcd's cluster API answers with no revision in the header.
            Ok(pb::MemberListResponse {
                header: self.header.at(0),
                members: vec![pb::Member {
                    id: self.header.member_id,
                    name: self.name.clone(),
                    peer_ur_ls: Vec::new(),
                    client_ur_ls: self.client_urls.clone(),
                    is_learner: false,
                }],
            })
        })
        .await
    }

    async fn member_promote(
        &self,
        _: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        Err(unimplemented("MemberPromote"))
    }
}
