//! Whole-patch tests: what a client sends, what kube answers.

use serde_json::{Value, json};

use super::*;

fn service() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "finalizers": ["a.example.com/x", "b.example.com/y", "c.example.com/z"],
            "labels": {"app": "web", "tier": "front"}
        },
        "spec": {
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443},
                {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": 9090}
            ],
            "clusterIP": "10.0.0.10",
            "clusterIPs": ["10.0.0.10"],
            "type": "ClusterIP"
        }
    })
}

fn smp(original: &Value, body: &str) -> Result<Value, PatchError> {
    let meta = builtin_patch_meta("", "Service");
    apply(
        PatchType::StrategicMerge,
        original,
        body.as_bytes(),
        meta,
        FieldValidation::Strict,
    )
    .map(|p| p.object)
}

fn ports(v: &Value) -> Vec<i64> {
    v["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect()
}

#[test]
fn content_types_are_read_like_kube() {
    assert_eq!(
        PatchType::from_content_type("application/merge-patch+json; charset=utf-8", true),
        Ok(PatchType::Merge)
    );
    assert_eq!(
        PatchType::from_content_type("application/strategic-merge-patch+json", true),
        Ok(PatchType::StrategicMerge)
    );
    let err = PatchType::from_content_type("application/json", true).unwrap_err();
    assert_eq!(err.code(), 415);
    assert_eq!(err.reason(), "UnsupportedMediaType");
    assert_eq!(
        err.to_string(),
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
    );
    // Custom resources do not take strategic merge patch.
    let err =
        PatchType::from_content_type("application/strategic-merge-patch+json", false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
    // Nothing is trimmed or case-folded.
    assert!(PatchType::from_content_type("application/merge-patch+json ; x", true).is_err());
    assert!(PatchType::from_content_type("Application/Merge-Patch+Json", true).is_err());
    assert!(PatchType::from_content_type("", true).is_err());
}

#[test]
fn kubectl_second_apply_of_a_service() {
    // kubectl apply after changing the https target port, dropping the
    // metrics port and adding a grpc one, with the order it wants.
    let body = r#"{
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {
            "$setElementOrder/ports": [{"port": 80}, {"port": 50051}, {"port": 443}],
            "ports": [
                {"name": "grpc", "port": 50051, "protocol": "TCP", "targetPort": 50051},
                {"port": 443, "targetPort": 9443},
                {"$patch": "delete", "port": 9090}
            ]
        }
    }"#;
    let out = smp(&service(), body).unwrap();
    assert_eq!(ports(&out), vec![80, 50051, 443]);
    assert_eq!(
        out["spec"]["ports"][2],
        json!({"name": "https", "port": 443, "protocol": "TCP", "targetPort": 9443})
    );
    assert_eq!(
        out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        json!("{}")
    );
    // Untouched fields stay.
    assert_eq!(out["spec"]["clusterIP"], json!("10.0.0.10"));
}

#[test]
fn set_element_order_only_reorders() {
    let body = r#"{"spec":{"$setElementOrder/ports":[{"port":9090},{"port":80},{"port":443}]}}"#;
    assert_eq!(ports(&smp(&service(), body).unwrap()), vec![9090, 80, 443]);
}

#[test]
fn removing_a_finalizer() {
    let body = r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["b.example.com/y"]}}"#;
    let out = smp(&service(), body).unwrap();
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["a.example.com/x", "c.example.com/z"])
    );
    // kubectl adds the order of what remains.
    let body = r#"{"metadata":{
        "$setElementOrder/finalizers":["c.example.com/z","a.example.com/x"],
        "$deleteFromPrimitiveList/finalizers":["b.example.com/y"]}}"#;
    let out = smp(&service(), body).unwrap();
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["c.example.com/z", "a.example.com/x"])
    );
}

#[test]
fn primitive_merge_lists_are_set_unions() {
    let body = r#"{"metadata":{"finalizers":["b.example.com/y","d.example.com/w"]}}"#;
    let out = smp(&service(), body).unwrap();
    assert_eq!(
        out["metadata"]["finalizers"],
        // kube's interleaving puts the new item right after the patch item
        // that precedes it.
        json!([
            "a.example.com/x",
            "b.example.com/y",
            "d.example.com/w",
            "c.example.com/z"
        ])
    );
}

#[test]
fn atomic_lists_and_maps() {
    let body = r#"{"spec":{"clusterIPs":["10.0.0.11"],"selector":{"app":null,"v":"2"}},
                   "metadata":{"labels":{"tier":null}}}"#;
    let out = smp(&service(), body).unwrap();
    assert_eq!(out["spec"]["clusterIPs"], json!(["10.0.0.11"]));
    assert_eq!(out["spec"]["selector"], json!({"v": "2"}));
    assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
}

#[test]
fn list_directives() {
    // Replace the whole merging list.
    let body = r#"{"spec":{"ports":[{"$patch":"replace"},{"port":1,"name":"one"}]}}"#;
    assert_eq!(ports(&smp(&service(), body).unwrap()), vec![1]);
    // Merged and new items are ordered as the patch orders them and
    // interleaved with the stored ones by the stored order: a new item in
    // front of the patch goes in front of everything.
    let body = r#"{"spec":{"ports":[{"port":7,"name":"seven"},{"port":80,"name":"web"}]}}"#;
    let out = smp(&service(), body).unwrap();
    assert_eq!(ports(&out), vec![7, 80, 443, 9090]);
    assert_eq!(out["spec"]["ports"][1]["name"], json!("web"));
    let body = r#"{"spec":{"ports":[{"port":443,"name":"tls"},{"port":7,"name":"seven"}]}}"#;
    assert_eq!(
        ports(&smp(&service(), body).unwrap()),
        vec![80, 443, 7, 9090]
    );
    // A delete without the merge key.
    let err = smp(&service(), r#"{"spec":{"ports":[{"$patch":"delete"}]}}"#).unwrap_err();
    assert_eq!(err.code(), 500);
    assert_eq!(err.reason(), "");
    assert_eq!(
        err.to_string(),
        "map: map[$patch:delete] does not contain declared merge key: port"
    );
    let err = smp(
        &service(),
        r#"{"spec":{"ports":[{"$patch":"merge","port":80}]}}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "merging lists cannot yet be specified in the patch"
    );
    let err = smp(
        &service(),
        r#"{"spec":{"ports":[{"$patch":"bogus","port":80}]}}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown patch type: bogus in map: map[$patch:bogus port:80]"
    );
    let err = smp(&service(), r#"{"spec":{"ports":[{"name":"x"}]}}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "map: map[name:x] does not contain declared merge key: port"
    );
}

#[test]
fn map_directives() {
    let out = smp(
        &service(),
        r#"{"spec":{"selector":{"$patch":"replace","x":"y"}}}"#,
    )
    .unwrap();
    assert_eq!(out["spec"]["selector"], json!({"x": "y"}));
    let out = smp(&service(), r#"{"metadata":{"labels":{"$patch":"delete"}}}"#).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({}));
    let err = smp(&service(), r#"{"metadata":{"labels":{"$patch":"merge"}}}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown patch type: merge in map: map[$patch:merge]"
    );
    let err = smp(&service(), r#"{"metadata":{"labels":{"$patch":5}}}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown patch type: %!s(int64=5) in map: map[$patch:5]"
    );
}

#[test]
fn retain_keys() {
    let out = smp(
        &service(),
        r#"{"spec":{"$retainKeys":["ports","selector"],"selector":{"a":"b"}}}"#,
    )
    .unwrap();
    let spec = out["spec"].as_object().unwrap();
    let mut keys: Vec<&str> = spec.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["ports", "selector"]);
    for body in [
        r#"{"spec":{"$retainKeys":"ports"}}"#,
        r#"{"spec":{"$retainKeys":["ports"],"type":"NodePort"}}"#,
    ] {
        let err = smp(&service(), body).unwrap_err();
        assert_eq!((err.code(), err.reason()), (400, "BadRequest"));
        assert_eq!(err.to_string(), "invalid patch format of retainKeys");
    }
}

#[test]
fn malformed_directives() {
    let err = smp(
        &service(),
        r#"{"metadata":{"$deleteFromPrimitiveListfinalizers":["a"]}}"#,
    )
    .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        (400, "invalid patch format of primitive list")
    );
    let err = smp(&service(), r#"{"spec":{"$setElementOrderports":[]}}"#).unwrap_err();
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        (400, "invalid patch format of setElementOrder list")
    );
    let err = smp(&service(), r#"{"spec":{"$setElementOrder/ports":"x"}}"#).unwrap_err();
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        (500, "expected a []interface {}, but received a string")
    );
    let err = smp(
        &service(),
        r#"{"spec":{"$setElementOrder/ports":[{"port":80}],"ports":[{"port":443,"name":"x"}]}}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "The order in patch list:\n[map[name:x port:443]]\n doesn't match $setElementOrder list:\n[map[port:80]]\n"
    );
    let mut empty = service();
    empty["metadata"]["finalizers"] = json!([]);
    let err = smp(&empty, r#"{"metadata":{"finalizers":[["x"]]}}"#).unwrap_err();
    assert_eq!((err.code(), err.reason()), (422, "Invalid"));
    assert_eq!(
        err.to_string(),
        "the server rejected our request due to an error in our request"
    );
    let err = smp(&service(), r#"{"metadata":{"finalizers":[1]}}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "list element types are not identical: [[a.example.com/x b.example.com/y c.example.com/z] [1]]"
    );
    // A null after a string is a type mismatch; a null first makes Go
    // panic, which kube answers with a bare 500.
    let err = smp(&service(), r#"{"metadata":{"finalizers":[null]}}"#).unwrap_err();
    assert_eq!(err.code(), 500);
    assert!(!err.is_plain_text());
    let err = smp(&empty, r#"{"metadata":{"finalizers":[null]}}"#).unwrap_err();
    assert!(err.is_plain_text());
    assert_eq!(err.code(), 500);
}

#[test]
fn strategic_merge_needs_metadata_and_an_object() {
    let err = apply(
        PatchType::StrategicMerge,
        &service(),
        b"{}",
        None,
        FieldValidation::Warn,
    )
    .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        (400, "strategic merge patch format is not supported")
    );
    let err = smp(&service(), "[1]").unwrap_err();
    assert_eq!(
        err.to_string(),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    let err = smp(&service(), "{").unwrap_err();
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        (400, "unexpected end of JSON input")
    );
    assert_eq!(smp(&service(), "null").unwrap(), service());
}

#[test]
fn unknown_fields_of_opaque_types_fail_like_kube() {
    let crd = json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
        "type": "object", "default": {"a": {"b": 1}}}}}]}});
    let meta = builtin_patch_meta("apiextensions.k8s.io", "CustomResourceDefinition");
    // versions is atomic, so the whole list is replaced without looking in.
    let out = apply(
        PatchType::StrategicMerge,
        &crd,
        br#"{"spec":{"versions":[{"name":"v2"}]}}"#,
        meta,
        FieldValidation::Strict,
    )
    .unwrap();
    assert_eq!(out.object["spec"]["versions"], json!([{"name": "v2"}]));
}

#[test]
fn strict_findings_in_strategic_and_merge_patches() {
    let body = br#"{"spec":{"type":"A","type":"B"},"metadata":{"labels":{"x":"1","x":"2"}}}"#;
    let p = apply(
        PatchType::StrategicMerge,
        &service(),
        body,
        builtin_patch_meta("", "Service"),
        FieldValidation::Warn,
    )
    .unwrap();
    assert_eq!(
        p.strict_errors,
        vec![
            r#"duplicate field "spec.type""#,
            r#"duplicate field "metadata.labels.x""#
        ]
    );
    assert_eq!(p.object["spec"]["type"], json!("B"));
    let p = apply(
        PatchType::Merge,
        &service(),
        body,
        None,
        FieldValidation::Ignore,
    )
    .unwrap();
    assert!(p.strict_errors.is_empty());
    let err = p.strict_error(&[r#"unknown field "spec.x""#.to_string()]);
    assert_eq!(err.code(), 422);
    assert!(
        err.to_string()
            .starts_with(" \"\" is invalid: patch: Invalid value: \"{")
    );
    assert!(
        err.to_string()
            .ends_with(r#": strict decoding error: unknown field "spec.x""#)
    );
    assert_eq!(
        err.status()["details"]["causes"][0]["field"],
        json!("patch")
    );
}

#[test]
fn merge_patch_answers() {
    let p = apply(
        PatchType::Merge,
        &service(),
        br#"{"metadata":{"labels":{"tier":null,"new":"x"}}}"#,
        None,
        FieldValidation::Strict,
    )
    .unwrap();
    assert_eq!(
        p.object["metadata"]["labels"],
        json!({"app": "web", "new": "x"})
    );
    // Lists are replaced whole.
    let p = apply(
        PatchType::Merge,
        &service(),
        br#"{"spec":{"ports":[{"port":1}]}}"#,
        None,
        FieldValidation::Strict,
    )
    .unwrap();
    assert_eq!(ports(&p.object), vec![1]);
    for (body, validation, msg) in [
        (
            "[1]",
            FieldValidation::Strict,
            "error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}",
        ),
        (
            "\"x\"",
            FieldValidation::Warn,
            "error decoding patch: json: cannot unmarshal string into Go value of type map[string]interface {}",
        ),
        (
            "{",
            FieldValidation::Warn,
            "error decoding patch: unexpected end of JSON input",
        ),
        ("null", FieldValidation::Warn, "Invalid JSON Patch"),
        ("{", FieldValidation::Ignore, "Invalid JSON Patch"),
        ("5", FieldValidation::Ignore, "Invalid JSON Patch"),
        ("", FieldValidation::Ignore, "Invalid JSON Patch"),
    ] {
        let err = apply(
            PatchType::Merge,
            &service(),
            body.as_bytes(),
            None,
            validation,
        )
        .unwrap_err();
        assert_eq!(
            (err.code(), err.reason(), err.to_string().as_str()),
            (400, "BadRequest", msg),
            "{body}"
        );
    }
    // An array patch becomes the document, which cannot be decoded.
    let err = apply(
        PatchType::Merge,
        &service(),
        b"[1,2]",
        None,
        FieldValidation::Ignore,
    )
    .unwrap_err();
    assert_eq!(err.code(), 422);
    assert_eq!(
        err.to_string(),
        r#" "" is invalid: patch: Invalid value: "[1,2]": couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string "json:\"apiVersion,omitempty\""; Kind string "json:\"kind,omitempty\"" }"#
    );
}

#[test]
fn json_patch_answers() {
    let ok = apply(
        PatchType::Json,
        &service(),
        br#"[{"op":"test","path":"/spec/type","value":"ClusterIP"},{"op":"replace","path":"/spec/type","value":"NodePort"}]"#,
        None,
        FieldValidation::Strict,
    )
    .unwrap();
    assert_eq!(ok.object["spec"]["type"], json!("NodePort"));

    // A failed test: kube keeps the reason to itself.
    let err = apply(
        PatchType::Json,
        &service(),
        br#"[{"op":"test","path":"/spec/type","value":"NodePort"}]"#,
        None,
        FieldValidation::Strict,
    )
    .unwrap_err();
    assert_eq!((err.code(), err.reason()), (422, "Invalid"));
    assert_eq!(
        err.to_string(),
        "the server rejected our request due to an error in our request"
    );
    assert_eq!(err.status()["details"], json!({}));
    assert!(
        matches!(&err, PatchError::Rejected { cause } if cause == "testing value /spec/type failed: test failed")
    );

    for body in [
        r#"[{"op":"remove","path":"/spec/nope"}]"#,
        r#"[{"op":"frobnicate","path":"/spec"}]"#,
        r#"[{"op":"add","path":"/nope/x","value":1}]"#,
    ] {
        let err = apply(
            PatchType::Json,
            &service(),
            body.as_bytes(),
            None,
            FieldValidation::Ignore,
        )
        .unwrap_err();
        assert_eq!(err.code(), 422, "{body}");
    }

    // Not a list of operations.
    let err = apply(
        PatchType::Json,
        &service(),
        br#"{"op":"add"}"#,
        None,
        FieldValidation::Ignore,
    )
    .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        (
            400,
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    );
    let err = apply(
        PatchType::Json,
        &service(),
        br#"{"op":"add"}"#,
        None,
        FieldValidation::Strict,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"
    );
    let err = apply(
        PatchType::Json,
        &service(),
        br#"[{"op":1}]"#,
        None,
        FieldValidation::Warn,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.op of type string"
    );
    let err = apply(
        PatchType::Json,
        &service(),
        b"[1]",
        None,
        FieldValidation::Ignore,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "json: cannot unmarshal number into Go value of type jsonpatch.Operation"
    );
    let err = apply(
        PatchType::Json,
        &service(),
        b"[",
        None,
        FieldValidation::Ignore,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "unexpected end of JSON input");

    // Strict findings in the operations themselves.
    let p = apply(
        PatchType::Json,
        &service(),
        br#"[{"op":"add","path":"/a","value":1,"foo":"bar"},{"op":"add","path":"/b","path":"/c","value":1}]"#,
        None,
        FieldValidation::Warn,
    )
    .unwrap();
    assert_eq!(
        p.strict_errors,
        vec![
            r#"json patch unknown field "[0].foo""#,
            r#"json patch duplicate field "[1].path""#
        ]
    );
    assert_eq!(p.object["c"], json!(1));

    // Too many operations.
    let ops = vec![r#"{"op":"test","path":"/kind","value":"Service"}"#; 10001].join(",");
    let err = apply(
        PatchType::Json,
        &service(),
        format!("[{ops}]").as_bytes(),
        None,
        FieldValidation::Ignore,
    )
    .unwrap_err();
    assert_eq!((err.code(), err.reason()), (413, "RequestEntityTooLarge"));
    assert_eq!(
        err.to_string(),
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    );
    // An empty or null patch changes nothing.
    for body in ["[]", "null"] {
        let p = apply(
            PatchType::Json,
            &service(),
            body.as_bytes(),
            None,
            FieldValidation::Strict,
        )
        .unwrap();
        assert_eq!(p.object, service());
    }
}

#[test]
fn hostile_input_never_panics() {
    let meta = builtin_patch_meta("", "Service");
    let deep = "{\"a\":".repeat(50_000) + "1" + &"}".repeat(50_000);
    let bodies: Vec<Vec<u8>> = vec![
        deep.into_bytes(),
        b"\xff\xfe\x00".to_vec(),
        b"{\"metadata\":{\"labels\":{\"\xff\":\"\xc0\"}}}".to_vec(),
        "[".repeat(2000).into_bytes(),
        format!("[{}]", vec!["1"; 200_000].join(",")).into_bytes(),
        format!(
            "{{\"metadata\":{{\"finalizers\":[{}]}}}}",
            (0..20_000)
                .map(|i| format!("\"f{}\"", i % 5000))
                .collect::<Vec<_>>()
                .join(",")
        )
        .into_bytes(),
        format!(
            "{{\"spec\":{{\"ports\":[{}]}}}}",
            (0..20_000)
                .map(|i| format!("{{\"port\":{}}}", i % 7000))
                .collect::<Vec<_>>()
                .join(",")
        )
        .into_bytes(),
        br#"{"spec":{"ports":[{"port":{"a":1}}]}}"#.to_vec(),
        br#"{"spec":{"$setElementOrder/ports":[1,2],"ports":[{"port":1}]}}"#.to_vec(),
        br#"[{"op":"copy","from":"","path":"/x"},{"op":"move","from":"/spec","path":"/spec/x"}]"#
            .to_vec(),
        "\u{feff}{}".as_bytes().to_vec(),
        Vec::new(),
    ];
    for body in &bodies {
        for t in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge] {
            for v in [FieldValidation::Ignore, FieldValidation::Strict] {
                let _ = apply(t, &service(), body, meta, v);
            }
        }
    }
    let err = apply(
        PatchType::Merge,
        &service(),
        &bodies[0],
        None,
        FieldValidation::Strict,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "error decoding patch: invalid character '{' exceeded max depth"
    );
    // Broken UTF-8 is read as Go reads it.
    let p = apply(
        PatchType::Merge,
        &service(),
        &bodies[2],
        None,
        FieldValidation::Strict,
    )
    .unwrap();
    assert_eq!(
        p.object["metadata"]["labels"]["\u{FFFD}"],
        json!("\u{FFFD}")
    );
}
