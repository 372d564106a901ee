//! causeway judged against a real etcd 3.5, answer by answer.

use crate::differential::differential_against;
use crate::etcdctl::etcdctl_against;
use crate::server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_sqlite() {
    let server = Server::sqlite().await;
    differential_against(&server.endpoint).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_postgres() {
    let server = Server::postgres().await;
    differential_against(&server.endpoint).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_sqlite() {
    let server = Server::sqlite().await;
    let reference = causeway_testkit::Etcd::start().await.unwrap();
    etcdctl_against(&reference.endpoint(), &server.endpoint).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_postgres() {
    let server = Server::postgres().await;
    let reference = causeway_testkit::Etcd::start().await.unwrap();
    etcdctl_against(&reference.endpoint(), &server.endpoint).await;
    server.shutdown().await;
}
