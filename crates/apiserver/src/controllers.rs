//! The controllers the API server runs itself: namespace termination (what
//! kube-controller-manager's namespace controller does, needed here because
//! no controller manager runs beside this server).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::Api;
use crate::object;
use crate::rest::write::{DeleteOptions, delete_object};
use crate::storage::Write;
use crate::strategy::NAMESPACE_FINALIZER;

/// Empties a terminating namespace in the background, then lets it go.
pub fn namespace_terminating(api: &Arc<Api>, name: String) {
    let api = api.clone();
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(50);
        loop {
            match empty_namespace(&api, &name).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(namespace = %name, error = %e, "emptying a terminating namespace")
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        if let Err(e) = finalize_namespace(&api, &name).await {
            tracing::warn!(namespace = %name, error = %e, "finalizing a namespace");
        }
    });
}

/// Deletes what the namespace holds; true once nothing is left.
async fn empty_namespace(api: &Arc<Api>, ns: &str) -> Result<bool, crate::error::ApiError> {
    let resources = api.registry.snapshot();
    let mut seen = std::collections::HashSet::new();
    let mut empty = true;
    for rt in resources.all().filter(|r| r.namespaced) {
        if !seen.insert(rt.storage_prefix.clone()) {
            continue;
        }
        let prefix = rt.prefix(Some(ns));
        let page = api
            .storage
            .list(&prefix, "", 0, 0)
            .await
            .map_err(crate::error::ApiError::storage)?;
        for kv in page.items {
            empty = false;
            let name = kv.key.rsplit('/').next().unwrap_or_default().to_string();
            match delete_object(api, rt, Some(ns), &name, &DeleteOptions::default(), false).await {
                Ok(_) | Err(crate::error::ApiError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(empty)
}

/// Removes the `kubernetes` finalizer and, with no other finalizers, the
/// namespace itself.
async fn finalize_namespace(api: &Arc<Api>, ns: &str) -> Result<(), crate::error::ApiError> {
    let key = format!("/registry/namespaces/{ns}");
    for _ in 0..16 {
        let (Some(kv), _) = api
            .storage
            .get(&key)
            .await
            .map_err(crate::error::ApiError::storage)?
        else {
            return Ok(());
        };
        let mut v: Value = serde_json::from_slice(&kv.value)
            .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
        if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
            let left: Vec<Value> = spec
                .get("finalizers")
                .and_then(Value::as_array)
                .map(|f| {
                    f.iter()
                        .filter(|x| x.as_str() != Some(NAMESPACE_FINALIZER))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            spec.insert("finalizers".into(), json!(left));
        }
        let write = if object::finalizers(&v).is_empty() {
            api.storage.delete(&key, kv.mod_revision).await
        } else {
            let bytes = serde_json::to_vec(&v).unwrap_or_default();
            api.storage
                .update(&key, bytes.into(), kv.mod_revision)
                .await
        }
        .map_err(crate::error::ApiError::storage)?;
        if let Write::Done { .. } = write {
            return Ok(());
        }
    }
    Ok(())
}

/// Picks up namespaces that were terminating when the server stopped.
pub async fn resume(api: &Arc<Api>) {
    let Ok(page) = api.storage.list("/registry/namespaces/", "", 0, 0).await else {
        return;
    };
    for kv in page.items {
        if let Ok(v) = serde_json::from_slice::<Value>(&kv.value)
            && object::is_deleting(&v)
        {
            namespace_terminating(api, object::name(&v).to_string());
        }
    }
}
