//! An MVCC key-value engine with etcd v3 semantics on SQL.
