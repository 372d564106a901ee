//! Bad input: each case gets etcd's error (or a closed connection), and the
//! server goes on serving afterwards.

use std::time::Duration;

use causeway_etcd::proto::etcdserverpb::{CompactionRequest, PutResponse};
use causeway_testkit::CausewayProcess;
use etcd_client::{Client, GetOptions, PutOptions, Txn, TxnOp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::common::{assert_grpc_error, on_both_backends, revision};
use crate::server::Server;

/// Proves the server still works: a put and a get of it.
async fn still_serves(c: &mut Client, case: &str) {
    let key = format!("alive/{case}");
    let put = c.put(key.as_str(), case, None).await.unwrap();
    let got = c.get(key.as_str(), None).await.unwrap();
    assert_eq!(got.kvs()[0].value_str().unwrap(), case);
    assert_eq!(
        got.kvs()[0].mod_revision(),
        put.header().unwrap().revision()
    );
}

async fn bad_requests(server: &Server) {
    bad_requests_on(server.client().await).await;
}

async fn bad_requests_on(mut c: Client) {
    // Over etcd's 1.5 MiB request limit: refused, nothing stored.
    let before = revision(&mut c).await;
    let big = vec![b'x'; 1536 * 1024 + 1024];
    assert_grpc_error(
        c.put("big", big, None).await,
        Code::InvalidArgument,
        "etcdserver: request is too large",
    );
    assert!(c.get("big", None).await.unwrap().kvs().is_empty());
    assert_eq!(
        revision(&mut c).await,
        before,
        "a refused put made a revision"
    );
    still_serves(&mut c, "too-large").await;

    assert_grpc_error(
        c.put("", "v", None).await,
        Code::InvalidArgument,
        "etcdserver: key is not provided",
    );
    still_serves(&mut c, "empty-key").await;

    // range_end below the key: an empty range, not an error.
    c.put("b", "1", None).await.unwrap();
    let got = c
        .get("b", Some(GetOptions::new().with_range("a")))
        .await
        .unwrap();
    assert!(got.kvs().is_empty(), "{:?}", got.kvs());
    assert_eq!(got.count(), 0);
    still_serves(&mut c, "inverted-range").await;

    assert_grpc_error(
        c.put("leased", "v", Some(PutOptions::new().with_lease(0x7777)))
            .await,
        Code::NotFound,
        "etcdserver: requested lease not found",
    );
    assert!(c.get("leased", None).await.unwrap().kvs().is_empty());
    assert_grpc_error(
        c.lease_revoke(0x7777).await,
        Code::NotFound,
        "etcdserver: requested lease not found",
    );
    still_serves(&mut c, "unknown-lease").await;

    let ops: Vec<TxnOp> = (0..129)
        .map(|i| TxnOp::put(format!("t/{i}"), "v", None))
        .collect();
    assert_grpc_error(
        c.txn(Txn::new().and_then(ops)).await,
        Code::InvalidArgument,
        "etcdserver: too many operations in txn request",
    );
    assert!(
        c.get("t/0", None).await.unwrap().kvs().is_empty(),
        "part of a refused txn was applied"
    );
    // 128 is the limit, and allowed.
    let ops: Vec<TxnOp> = (0..128)
        .map(|i| TxnOp::put(format!("t/{i}"), "v", None))
        .collect();
    assert!(c.txn(Txn::new().and_then(ops)).await.unwrap().succeeded());
    still_serves(&mut c, "too-many-ops").await;
}

on_both_backends!(bad_requests => bad_requests_get_etcds_errors_on_sqlite, bad_requests_get_etcds_errors_on_postgres);

/// The same checks against a real etcd, so that the expected errors are
/// etcd's and not our guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_same_errors_from_etcd() {
    let etcd = causeway_testkit::Etcd::start().await.unwrap();
    bad_requests_on(crate::common::connect(&etcd.endpoint()).await).await;
}

/// Garbage on the wire: the server answers an error or closes that
/// connection, and keeps serving everyone else.
async fn malformed_requests(server: &Server) {
    let mut c = server.client().await;

    // Not HTTP/2 at all.
    let mut raw = tokio::net::TcpStream::connect(&server.endpoint)
        .await
        .unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let _ = raw.write_all(&garbage).await;
    let mut buf = vec![0u8; 4096];
    // The server may answer with an HTTP/2 GOAWAY first; it must then close.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match raw.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a garbage connection open");
    still_serves(&mut c, "garbage-bytes").await;

    // A well-formed gRPC frame whose protobuf is not a PutRequest: field 1
    // (key, length-delimited) arrives as a varint.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.endpoint))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec: tonic_prost::ProstCodec<CompactionRequest, PutResponse> =
        tonic_prost::ProstCodec::default();
    let result = grpc
        .unary(
            tonic::Request::new(CompactionRequest {
                revision: 5,
                physical: true,
            }),
            tonic::codegen::http::uri::PathAndQuery::from_static("/etcdserverpb.KV/Put"),
            codec,
        )
        .await;
    let status = result.expect_err("invalid protobuf was accepted as a put");
    assert_ne!(status.code(), Code::Ok);
    assert!(
        c.get("", Some(GetOptions::new().with_all_keys().with_keys_only()))
            .await
            .unwrap()
            .kvs()
            .iter()
            .all(|kv| kv.key().starts_with(b"alive/")),
        "the invalid request stored something"
    );
    // The same connection still works for a valid request.
    grpc.ready().await.unwrap();
    still_serves(&mut c, "invalid-protobuf").await;
}

on_both_backends!(malformed_requests => malformed_requests_are_refused_on_sqlite, malformed_requests_are_refused_on_postgres);

/// What a refused start left: the exit description and the log.
fn refused(result: Result<CausewayProcess, causeway_testkit::Error>) -> (String, String) {
    match result {
        Err(causeway_testkit::Error::NotReady { detail, tail, .. }) => (detail, tail),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(p) => panic!(
            "causeway store started where it must refuse:\n{}",
            p.log_tail()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_store_on_one_sqlite_file_refuses_to_start() {
    let first = CausewayProcess::start_sqlite(&[]).await.unwrap();
    let (detail, log) = refused(CausewayProcess::start(first.datastore(), &[]).await);
    assert!(detail.contains("exited"), "{detail}");
    assert!(!detail.contains("exit status: 0"), "{detail}");
    assert!(
        log.contains("is in use by another causeway process"),
        "no clear message:\n{log}"
    );
    // The first one is unharmed.
    let mut c = crate::common::connect(&first.endpoint()).await;
    still_serves(&mut c, "second-process").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_datastore_scheme_refuses_to_start() {
    let (detail, log) = refused(CausewayProcess::start("nonsense://x", &[]).await);
    assert!(detail.contains("exited"), "{detail}");
    assert!(!detail.contains("exit status: 0"), "{detail}");
    assert!(
        log.contains("unsupported datastore \"nonsense://x\""),
        "no clear message:\n{log}"
    );
}
