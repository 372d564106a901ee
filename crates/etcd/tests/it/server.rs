//! causeway's etcd server run in-process on a free loopback port, over
//! SQLite or PostgreSQL, for the tests that judge it.

use causeway_etcd::{ServerConfig, serve};
use causeway_store::{Datastore, Store, StoreConfig};
use causeway_testkit::{PgDatabase, Postgres};
use tokio::sync::oneshot;

/// A running server. Dropping it stops the server.
pub struct Server {
    pub endpoint: String,
    pub store: Store,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
    _db: Option<PgDatabase>,
}

impl Server {
    /// On a fresh SQLite database in a temporary folder.
    pub async fn sqlite() -> Server {
        Server::sqlite_with(|_| {}).await
    }

    /// On a fresh SQLite database, with the store configuration adjusted.
    pub async fn sqlite_with(adjust: impl FnOnce(&mut StoreConfig)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(Datastore::Sqlite(dir.path().join("store.db")));
        adjust(&mut config);
        Server::start(config, Some(dir), None).await
    }

    /// On a fresh PostgreSQL database.
    pub async fn postgres() -> Server {
        let db = Postgres::database().unwrap();
        Server::postgres_on(db).await
    }

    /// On the given PostgreSQL database.
    pub async fn postgres_on(db: PgDatabase) -> Server {
        let config = StoreConfig::new(Datastore::Postgres(db.dsn().to_string()));
        Server::start(config, None, Some(db)).await
    }

    /// Another server on the same PostgreSQL database as `self`.
    pub async fn postgres_peer(dsn: &str) -> Server {
        let config = StoreConfig::new(Datastore::Postgres(dsn.to_string()));
        Server::start(config, None, None).await
    }

    /// Two servers on one fresh PostgreSQL database, as two processes
    /// sharing it would be; the first owns the database.
    pub async fn postgres_pair() -> (Server, Server) {
        let db = Postgres::database().unwrap();
        let dsn = db.dsn().to_string();
        let a = Server::postgres_on(db).await;
        let b = Server::postgres_peer(&dsn).await;
        (a, b)
    }

    async fn start(
        config: StoreConfig,
        dir: Option<tempfile::TempDir>,
        db: Option<PgDatabase>,
    ) -> Server {
        let store = Store::open(config).await.unwrap();
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = grpc.local_addr().unwrap().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            store.clone(),
            ServerConfig::default(),
            grpc,
            metrics,
            async move {
                let _ = stopped.await;
            },
        ));
        let task = tokio::spawn(async move {
            task.await.unwrap().unwrap();
        });
        Server {
            endpoint,
            store,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
            _db: db,
        }
    }

    /// Stops the server and waits until it has shut down.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    pub async fn client(&self) -> etcd_client::Client {
        etcd_client::Client::connect([self.endpoint.as_str()], None)
            .await
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
