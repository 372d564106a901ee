"""The official Python `kubernetes` client against a causeway API server.

Run by python.rs. Loads the server's kubeconfig (TLS verified with the CA it
carries), then in namespace NAMESPACE: creates, gets, lists (selectors,
pages) and watches ConfigMaps, and in `default` watches from EXPIRED_RV, a
resourceVersion older than the server's watch cache, expects 410 Gone, and
recovers as the client's documentation says: list again, then watch from
the list's resourceVersion.

Every check raises with a message saying what was expected; on success the
script prints one JSON document of what it saw, which the Rust test checks
again.

usage: python_client.py KUBECONFIG NAMESPACE EXPIRED_RV SEEDED_NAME
"""

import json
import sys

import kubernetes
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

# Nothing here should wait long; a server that stops answering fails the
# run instead of hanging it.
TIMEOUT = 60


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def cm(name, labels=None, data=None):
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
        data=data or {},
    )


def rv(obj):
    return int(obj.metadata.resource_version)


def api_error(call):
    """Runs `call`, which must fail with an ApiException; returns
    (status, Status document)."""
    try:
        call()
    except ApiException as e:
        return e.status, json.loads(e.body)
    raise AssertionError("expected an ApiException, the call succeeded")


def tls_is_verified(api_client):
    cfg = api_client.configuration
    check(cfg.verify_ssl, "the kubeconfig should leave TLS verification on")
    check(cfg.ssl_ca_cert, "the kubeconfig's CA should be loaded as ssl_ca_cert")
    # The same client without the server's CA must refuse the server: the
    # certificate really is checked.
    other = client.Configuration()
    other.host = cfg.host
    other.api_key = dict(cfg.api_key)
    other.api_key_prefix = dict(cfg.api_key_prefix)
    other.retries = False
    try:
        client.CoreV1Api(client.ApiClient(other)).list_namespace(
            _request_timeout=TIMEOUT
        )
    except ApiException as e:  # the client wraps urllib3's SSLError (status 0)
        check(
            e.status == 0 and "CERTIFICATE_VERIFY_FAILED" in str(e),
            f"without the CA the call should fail verification, got {e}",
        )
        return
    raise AssertionError("a client without the server's CA was not refused")


def crud_and_lists(v1, ns):
    out = {}
    created = v1.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=ns))
    )
    check(created.status.phase == "Active", f"new namespace: {created.status}")

    made = {}
    for name, labels in [("a", {"app": "py"}), ("b", {"app": "py"}), ("c", {"app": "py", "tier": "x"})]:
        o = v1.create_namespaced_config_map(ns, cm(name, labels, {"k": name}))
        check(isinstance(o, client.V1ConfigMap), f"create returned {type(o)}")
        check(len(o.metadata.uid) == 36, f"uid {o.metadata.uid!r}")
        check(o.metadata.creation_timestamp is not None, "no creationTimestamp")
        check(o.metadata.namespace == ns, f"namespace {o.metadata.namespace!r}")
        made[name] = rv(o)
    out["created_rvs"] = [made[n] for n in "abc"]
    check(made["a"] < made["b"] < made["c"], f"resourceVersions {made}")

    got = v1.read_namespaced_config_map("b", ns)
    check(got.data == {"k": "b"} and rv(got) == made["b"], f"read b: {got}")

    status, body = api_error(lambda: v1.read_namespaced_config_map("nope", ns))
    check(status == 404, f"missing object: {status}")
    check(body["reason"] == "NotFound", f"{body}")
    check(body["message"] == 'configmaps "nope" not found', f"{body}")
    status, body = api_error(lambda: v1.create_namespaced_config_map(ns, cm("a")))
    check(status == 409 and body["reason"] == "AlreadyExists", f"{status} {body}")

    full = v1.list_namespaced_config_map(ns)
    names = [i.metadata.name for i in full.items]
    check(names == ["a", "b", "c"], f"list names {names}")
    list_rv = int(full.metadata.resource_version)
    check(list_rv >= made["c"], f"list resourceVersion {list_rv} < {made['c']}")
    out["list"] = {"names": names, "resource_version": list_rv}

    sel = v1.list_namespaced_config_map(ns, label_selector="tier=x")
    check([i.metadata.name for i in sel.items] == ["c"], f"label selector: {sel.items}")
    sel = v1.list_namespaced_config_map(ns, field_selector="metadata.name=a")
    check([i.metadata.name for i in sel.items] == ["a"], f"field selector: {sel.items}")

    page = v1.list_namespaced_config_map(ns, limit=2)
    check([i.metadata.name for i in page.items] == ["a", "b"], f"page 1 {page.items}")
    check(page.metadata._continue, "page 1 has no continue token")
    check(page.metadata.remaining_item_count == 1, f"remaining {page.metadata.remaining_item_count}")
    page2 = v1.list_namespaced_config_map(ns, limit=2, _continue=page.metadata._continue)
    check([i.metadata.name for i in page2.items] == ["c"], f"page 2 {page2.items}")
    check(not page2.metadata._continue, f"page 2 continue {page2.metadata._continue!r}")
    return out, list_rv


def watch_writes(v1, ns, list_rv):
    """Watches from list_rv while making writes between events: the first
    event comes from the watch cache's history, the others live."""
    v1.patch_namespaced_config_map("a", ns, {"data": {"k": "a2"}})
    w = watch.Watch()
    events = []
    deleted_status = None
    for e in w.stream(
        v1.list_namespaced_config_map, ns, resource_version=str(list_rv), timeout_seconds=TIMEOUT
    ):
        o = e["object"]
        check(isinstance(o, client.V1ConfigMap), f"event object {type(o)}")
        check(e["raw_object"]["kind"] == "ConfigMap", f"raw {e['raw_object']}")
        events.append([e["type"], o.metadata.name, rv(o)])
        if len(events) == 1:
            v1.create_namespaced_config_map(ns, cm("d", {"app": "py"}))
        elif len(events) == 2:
            v1.replace_namespaced_config_map("b", ns, cm("b", {"app": "py"}, {"k": "b2"}))
        elif len(events) == 3:
            deleted_status = v1.delete_namespaced_config_map("c", ns)
        else:
            w.stop()
    kinds = [[t, n] for t, n, _ in events]
    check(
        kinds == [["MODIFIED", "a"], ["ADDED", "d"], ["MODIFIED", "b"], ["DELETED", "c"]],
        f"watch events {events}",
    )
    rvs = [r for _, _, r in events]
    check(rvs == sorted(rvs) and rvs[0] > list_rv, f"event resourceVersions {rvs} after {list_rv}")
    check(str(rvs[-1]) == w.resource_version, f"watch position {w.resource_version}")
    check(deleted_status.status == "Success", f"delete answer {deleted_status}")
    check(deleted_status.details.name == "c", f"delete details {deleted_status.details}")

    # A watch without a resourceVersion starts with the objects there are.
    w = watch.Watch()
    initial = []
    for e in w.stream(v1.list_namespaced_config_map, ns, timeout_seconds=TIMEOUT):
        initial.append([e["type"], e["object"].metadata.name])
        if len(initial) == 3:
            w.stop()
    check(sorted(initial) == [["ADDED", "a"], ["ADDED", "b"], ["ADDED", "d"]], f"initial events {initial}")

    # A label-selected watch sees an object that stops matching as DELETED.
    now = int(v1.list_namespaced_config_map(ns).metadata.resource_version)
    v1.patch_namespaced_config_map("d", ns, {"metadata": {"labels": {"app": "other"}}})
    w = watch.Watch()
    selected = []
    for e in w.stream(
        v1.list_namespaced_config_map,
        ns,
        label_selector="app=py",
        resource_version=str(now),
        timeout_seconds=TIMEOUT,
    ):
        selected.append([e["type"], e["object"].metadata.name])
        w.stop()
    check(selected == [["DELETED", "d"]], f"selector watch {selected}")
    return {"events": events, "initial": sorted(initial), "selected": selected}


def expect_gone(v1, expired_rv, **options):
    """Watches `default` from expired_rv, which must end in the client's
    ApiException 410; returns its status and reason."""
    try:
        for e in watch.Watch().stream(
            v1.list_namespaced_config_map, "default", resource_version=expired_rv, **options
        ):
            raise AssertionError(f"watch from an expired version ({options}) sent {e['type']}")
        raise AssertionError(f"watch from an expired version ({options}) ended without an error")
    except ApiException as e:
        check(e.status == 410, f"expired watch ({options}) status {e.status}: {e.reason}")
        return {"status": e.status, "reason": e.reason}


def gone_and_resume(v1, expired_rv, seeded):
    """The 410 path, both ways the client surfaces it, then the recovery."""
    out = {}
    # With a timeout the client does not retry: the ERROR event becomes an
    # ApiException at once.
    out["gone"] = expect_gone(v1, expired_rv, timeout_seconds=TIMEOUT)
    # Without one it retries once from the same version, then gives up.
    out["gone_after_retry"] = expect_gone(v1, expired_rv, _request_timeout=TIMEOUT)

    # Recovery: list, then watch from the list's resourceVersion.
    fresh = v1.list_namespaced_config_map("default")
    names = [i.metadata.name for i in fresh.items]
    check(seeded in names, f"{seeded} missing from the re-list {names}")
    seeded_obj = next(i for i in fresh.items if i.metadata.name == seeded)
    check(seeded_obj.data == {"n": "2"}, f"re-list sees the latest {seeded}: {seeded_obj.data}")
    from_rv = fresh.metadata.resource_version
    check(int(from_rv) > int(expired_rv), f"re-list version {from_rv} <= {expired_rv}")
    v1.create_namespaced_config_map("default", cm("after-gone"))
    w = watch.Watch()
    resumed = []
    for e in w.stream(
        v1.list_namespaced_config_map, "default", resource_version=from_rv, timeout_seconds=TIMEOUT
    ):
        resumed.append([e["type"], e["object"].metadata.name])
        if len(resumed) == 1:
            v1.delete_namespaced_config_map(seeded, "default")
        else:
            w.stop()
    check(resumed == [["ADDED", "after-gone"], ["DELETED", seeded]], f"resumed watch {resumed}")
    out["resumed"] = resumed
    return out


def main():
    kubeconfig, ns, expired_rv, seeded = sys.argv[1:5]
    config.load_kube_config(config_file=kubeconfig)
    api_client = client.ApiClient()
    tls_is_verified(api_client)
    v1 = client.CoreV1Api(api_client)
    result = {"client_version": kubernetes.__version__}
    out, list_rv = crud_and_lists(v1, ns)
    result.update(out)
    result.update(watch_writes(v1, ns, list_rv))
    result.update(gone_and_resume(v1, expired_rv, seeded))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
