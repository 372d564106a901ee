//! Between the wire types and the store's types.

use bytes::Bytes;
use causeway_store::request as req;
use causeway_store::{Event, EventKind, KeyRange, KeyValue};
use tonic::Status;

use crate::proto::etcdserverpb as pb;
use crate::proto::mvccpb;

pub(crate) fn kv(kv: KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key.to_vec(),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value.to_vec(),
        lease: kv.lease,
    }
}

pub(crate) fn event(e: Event) -> mvccpb::Event {
    mvccpb::Event {
        r#type: match e.kind {
            EventKind::Put => mvccpb::event::EventType::Put as i32,
            EventKind::Delete => mvccpb::event::EventType::Delete as i32,
        },
        kv: Some(kv(e.kv)),
        prev_kv: e.prev_kv.map(kv),
    }
}

pub(crate) fn key_range(key: Vec<u8>, range_end: Vec<u8>) -> KeyRange {
    KeyRange::from_etcd(Bytes::from(key), Bytes::from(range_end))
}

fn invalid_sort() -> Status {
    Status::invalid_argument("etcdserver: invalid sort option")
}

pub(crate) fn range_request(r: pb::RangeRequest) -> Result<req::RangeRequest, Status> {
    use pb::range_request::{SortOrder, SortTarget};
    let sort_order = match SortOrder::try_from(r.sort_order).map_err(|_| invalid_sort())? {
        SortOrder::None => req::SortOrder::None,
        SortOrder::Ascend => req::SortOrder::Ascend,
        SortOrder::Descend => req::SortOrder::Descend,
    };
    let sort_target = match SortTarget::try_from(r.sort_target).map_err(|_| invalid_sort())? {
        SortTarget::Key => req::SortTarget::Key,
        SortTarget::Version => req::SortTarget::Version,
        SortTarget::Create => req::SortTarget::Create,
        SortTarget::Mod => req::SortTarget::Mod,
        SortTarget::Value => req::SortTarget::Value,
    };
    Ok(req::RangeRequest {
        range: key_range(r.key, r.range_end),
        limit: r.limit,
        revision: r.revision,
        sort_order,
        sort_target,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    })
}

pub(crate) fn put_request(r: pb::PutRequest) -> req::PutRequest {
    req::PutRequest {
        key: Bytes::from(r.key),
        value: Bytes::from(r.value),
        lease: r.lease,
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    }
}

pub(crate) fn delete_request(r: pb::DeleteRangeRequest) -> req::DeleteRangeRequest {
    req::DeleteRangeRequest {
        range: key_range(r.key, r.range_end),
        prev_kv: r.prev_kv,
    }
}

fn compare(c: pb::Compare) -> Result<req::Compare, Status> {
    use pb::compare::{CompareResult, CompareTarget, TargetUnion};
    let result = match CompareResult::try_from(c.result)
        .map_err(|_| Status::invalid_argument("etcdserver: invalid compare result"))?
    {
        CompareResult::Equal => req::CompareResult::Equal,
        CompareResult::Greater => req::CompareResult::Greater,
        CompareResult::Less => req::CompareResult::Less,
        CompareResult::NotEqual => req::CompareResult::NotEqual,
    };
    // etcd reads the operand only from the union member that matches the
    // target; any other member counts as zero (or an empty value).
    let u = c.target_union;
    let target = match CompareTarget::try_from(c.target)
        .map_err(|_| Status::invalid_argument("etcdserver: invalid compare target"))?
    {
        CompareTarget::Version => req::CompareTarget::Version(match u {
            Some(TargetUnion::Version(v)) => v,
            _ => 0,
        }),
        CompareTarget::Create => req::CompareTarget::Create(match u {
            Some(TargetUnion::CreateRevision(v)) => v,
            _ => 0,
        }),
        CompareTarget::Mod => req::CompareTarget::Mod(match u {
            Some(TargetUnion::ModRevision(v)) => v,
            _ => 0,
        }),
        CompareTarget::Lease => req::CompareTarget::Lease(match u {
            Some(TargetUnion::Lease(v)) => v,
            _ => 0,
        }),
        CompareTarget::Value => req::CompareTarget::Value(match u {
            Some(TargetUnion::Value(v)) => Bytes::from(v),
            _ => Bytes::new(),
        }),
    };
    Ok(req::Compare {
        range: key_range(c.key, c.range_end),
        result,
        target,
    })
}

fn request_op(op: pb::RequestOp) -> Result<req::RequestOp, Status> {
    use pb::request_op::Request;
    Ok(match op.request {
        Some(Request::RequestRange(r)) => req::RequestOp::Range(range_request(r)?),
        Some(Request::RequestPut(p)) => req::RequestOp::Put(put_request(p)),
        Some(Request::RequestDeleteRange(d)) => req::RequestOp::DeleteRange(delete_request(d)),
        Some(Request::RequestTxn(t)) => req::RequestOp::Txn(txn_request(t)?),
        // etcd answers an empty operation as a missing key.
        None => return Err(Status::invalid_argument("etcdserver: key not found")),
    })
}

pub(crate) fn txn_request(t: pb::TxnRequest) -> Result<req::TxnRequest, Status> {
    Ok(req::TxnRequest {
        compare: t
            .compare
            .into_iter()
            .map(compare)
            .collect::<Result<_, _>>()?,
        success: t
            .success
            .into_iter()
            .map(request_op)
            .collect::<Result<_, _>>()?,
        failure: t
            .failure
            .into_iter()
            .map(request_op)
            .collect::<Result<_, _>>()?,
    })
}

/// Builds response headers: the store's revision plus this member's IDs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    pub cluster_id: u64,
    pub member_id: u64,
    pub raft_term: u64,
}

impl Header {
    pub(crate) fn at(&self, revision: i64) -> Option<pb::ResponseHeader> {
        Some(pb::ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.member_id,
            revision,
            raft_term: self.raft_term,
        })
    }
}

/// Responses inside a transaction carry only a revision in their header,
/// as etcd's applier fills them; the member fields are set on the top level only.
fn inner_header(revision: i64) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        revision,
        ..Default::default()
    })
}

pub(crate) fn range_response(
    r: req::RangeResponse,
    header: Option<pb::ResponseHeader>,
) -> pb::RangeResponse {
    pb::RangeResponse {
        header,
        kvs: r.kvs.into_iter().map(kv).collect(),
        more: r.more,
        count: r.count,
    }
}

pub(crate) fn put_response(
    r: req::PutResponse,
    header: Option<pb::ResponseHeader>,
) -> pb::PutResponse {
    pb::PutResponse {
        header,
        prev_kv: r.prev_kv.map(kv),
    }
}

pub(crate) fn delete_response(
    r: req::DeleteRangeResponse,
    header: Option<pb::ResponseHeader>,
) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header,
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(kv).collect(),
    }
}

pub(crate) fn txn_response(
    r: req::TxnResponse,
    header: Option<pb::ResponseHeader>,
) -> pb::TxnResponse {
    use pb::response_op::Response;
    pb::TxnResponse {
        header,
        succeeded: r.succeeded,
        responses: r
            .responses
            .into_iter()
            .map(|op| pb::ResponseOp {
                response: Some(match op {
                    req::ResponseOp::Range(r) => {
                        let h = inner_header(r.revision);
                        Response::ResponseRange(range_response(r, h))
                    }
                    req::ResponseOp::Put(r) => {
                        let h = inner_header(r.revision);
                        Response::ResponsePut(put_response(r, h))
                    }
                    req::ResponseOp::DeleteRange(r) => {
                        let h = inner_header(r.revision);
                        Response::ResponseDeleteRange(delete_response(r, h))
                    }
                    // etcd gives nested transactions an empty header.
                    req::ResponseOp::Txn(t) => {
                        Response::ResponseTxn(txn_response(t, inner_header(0)))
                    }
                }),
            })
            .collect(),
    }
}
