//! The field manager against the exact sequences observed on kube-apiserver v1.36
//! (shared/spec/kube-api: error-bodies.md §4, kube-rs-requests.md §7–§11, kubectl-traces.md
//! §3–§12, semantics.md §14). Each step stores the result as the server would (identity
//! metadata, defaults) before the next one.

use super::*;
use serde_json::json;

const T: &str = "2026-11-28T07:08:12Z";

fn gadget_kind() -> ResourceKind {
    ResourceKind {
        group: "demo.example.com".into(),
        version: "v1".into(),
        kind: "Gadget".into(),
        list_kind: "GadgetList".into(),
        plural: "gadgets".into(),
        singular: "gadget".into(),
        short_names: vec!["gd".into()],
        categories: vec![],
        namespaced: true,
        status_subresource: true,
        verbs: vec![],
        schema: Some(json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "required": ["size"], "properties": {
                    "size": {"type": "integer", "minimum": 1, "maximum": 10},
                    "color": {"type": "string", "enum": ["red", "green", "blue"], "default": "red"},
                    "note": {"type": "string"}
                }},
                "status": {"type": "object", "properties": {
                    "phase": {"type": "string"},
                    "observedGeneration": {"type": "integer", "format": "int64"},
                    "conditions": {"type": "array", "items": {"type": "object",
                        "required": ["type", "status"],
                        "properties": {
                            "type": {"type": "string"}, "status": {"type": "string"},
                            "reason": {"type": "string"}, "message": {"type": "string"},
                            "lastTransitionTime": {"type": "string", "format": "date-time"}
                        }}}
                }}
            }
        })),
        printer_columns: vec![],
        custom: true,
    }
}

fn builtin_kind(group: &str, kind: &str, plural: &str, status_subresource: bool) -> ResourceKind {
    ResourceKind {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        short_names: vec![],
        categories: vec![],
        namespaced: true,
        status_subresource,
        verbs: vec![],
        schema: None,
        printer_columns: vec![],
        custom: false,
    }
}

/// What the store adds to a created object (none of it is owned by anyone).
fn stored(mut obj: Value, name: &str) -> Value {
    let meta = obj["metadata"].as_object_mut().unwrap();
    meta.insert("name".into(), json!(name));
    meta.insert("namespace".into(), json!("trace-ns"));
    meta.insert("uid".into(), json!("3f2aedcd-4fd5-49b6-baab-d86af946186d"));
    meta.insert("creationTimestamp".into(), json!(T));
    meta.insert("resourceVersion".into(), json!("693"));
    meta.insert("generation".into(), json!(1));
    obj
}

fn merge_patch(obj: &Value, patch: Value) -> Value {
    let mut out = obj.clone();
    json_patch::merge(&mut out, &patch);
    out
}

fn managed_fields(obj: &Value) -> &Value {
    &obj["metadata"]["managedFields"]
}

fn entry(manager: &str, operation: &str, time: &str, fields: Value) -> Value {
    json!({"apiVersion": "demo.example.com/v1", "fieldsType": "FieldsV1", "fieldsV1": fields,
           "manager": manager, "operation": operation, "time": time})
}

fn with_subresource(mut e: Value, sub: &str) -> Value {
    e["subresource"] = json!(sub);
    e
}

fn applied_gadget(size: i64, color: &str) -> Value {
    json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "metadata": {"name": "ssa1"},
           "spec": {"size": size, "color": color}})
}

#[test]
fn error_bodies_section_4_sequence() {
    let kind = gadget_kind();

    // alice applies (creates).
    let created = apply(
        &kind,
        None,
        &applied_gadget(2, "green"),
        "alice",
        false,
        None,
        T,
    )
    .unwrap();
    assert_eq!(created["spec"], json!({"color": "green", "size": 2}));
    assert_eq!(
        managed_fields(&created),
        &json!([entry(
            "alice",
            "Apply",
            T,
            json!({"f:spec": {"f:color": {}, "f:size": {}}})
        )])
    );
    let live = stored(created, "ssa1");

    // bob applies other values without force: 409 with both fields.
    let conflicts = apply(
        &kind,
        Some(&live),
        &applied_gadget(9, "blue"),
        "bob",
        false,
        None,
        T,
    )
    .unwrap_err();
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.color\n- .spec.size"
    );
    assert_eq!(
        conflict_causes(&conflicts),
        vec![
            json!({"reason": "FieldManagerConflict", "message": "conflict with \"alice\"", "field": ".spec.color"}),
            json!({"reason": "FieldManagerConflict", "message": "conflict with \"alice\"", "field": ".spec.size"}),
        ]
    );
    assert_eq!(conflicts[0].manager_name(), "alice");

    // carol's merge patch takes spec.size from alice.
    let mut patched = merge_patch(&live, json!({"spec": {"size": 3}}));
    record_update(&kind, Some(&live), &mut patched, "carol", None, T);
    assert_eq!(
        managed_fields(&patched),
        &json!([
            entry("alice", "Apply", T, json!({"f:spec": {"f:color": {}}})),
            entry("carol", "Update", T, json!({"f:spec": {"f:size": {}}})),
        ])
    );
    let live = patched;

    // alice re-applies size 2: conflict with the Update manager, named with its apiVersion.
    let conflicts = apply(
        &kind,
        Some(&live),
        &applied_gadget(2, "green"),
        "alice",
        false,
        None,
        T,
    )
    .unwrap_err();
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"carol\" using demo.example.com/v1: .spec.size"
    );
    assert_eq!(
        conflict_causes(&conflicts),
        vec![json!({"reason": "FieldManagerConflict",
                    "message": "conflict with \"carol\" using demo.example.com/v1", "field": ".spec.size"})]
    );

    // bob forces: he owns both fields, alice and carol are left with nothing and disappear.
    let forced = apply(
        &kind,
        Some(&live),
        &applied_gadget(9, "blue"),
        "bob",
        true,
        None,
        T,
    )
    .unwrap();
    assert_eq!(forced["spec"], json!({"color": "blue", "size": 9}));
    assert_eq!(
        managed_fields(&forced),
        &json!([entry(
            "bob",
            "Apply",
            T,
            json!({"f:spec": {"f:color": {}, "f:size": {}}})
        )])
    );
    assert_eq!(forced["metadata"]["uid"], live["metadata"]["uid"]);
}

#[test]
fn kube_rs_apply_merge_and_status_sequence() {
    let kind = gadget_kind();
    let body = |spec: Value| json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "metadata": {"name": "k1"}, "spec": spec});

    // §7: forced apply creates.
    let live = stored(
        apply(
            &kind,
            None,
            &body(json!({"color": "green", "size": 2})),
            "trace-kube",
            true,
            None,
            T,
        )
        .unwrap(),
        "k1",
    );

    // §8: the typed object no longer sets color: it is pruned (then defaulted to red by the
    // server, which owns nobody).
    let mut reapplied = apply(
        &kind,
        Some(&live),
        &body(json!({"size": 3, "note": "typed"})),
        "trace-kube",
        true,
        None,
        T,
    )
    .unwrap();
    assert_eq!(reapplied["spec"], json!({"note": "typed", "size": 3}));
    assert_eq!(
        managed_fields(&reapplied),
        &json!([entry(
            "trace-kube",
            "Apply",
            T,
            json!({"f:spec": {"f:note": {}, "f:size": {}}})
        )])
    );
    reapplied["spec"]["color"] = json!("red");

    // §9: a merge patch without fieldManager (manager "unknown") takes spec.note.
    let mut merged = merge_patch(&reapplied, json!({"spec": {"note": "merged"}}));
    record_update(&kind, Some(&reapplied), &mut merged, "unknown", None, T);
    assert_eq!(
        managed_fields(&merged),
        &json!([
            entry("trace-kube", "Apply", T, json!({"f:spec": {"f:size": {}}})),
            entry("unknown", "Update", T, json!({"f:spec": {"f:note": {}}})),
        ])
    );

    // §10: a merge patch of /status: a separate entry for the subresource, with "." for the
    // status that did not exist.
    let mut status = merge_patch(&merged, json!({"status": {"phase": "Busy"}}));
    record_update(&kind, Some(&merged), &mut status, "", Some("status"), T);
    let unknown_status = with_subresource(
        entry(
            "unknown",
            "Update",
            T,
            json!({"f:status": {".": {}, "f:phase": {}}}),
        ),
        "status",
    );
    assert_eq!(managed_fields(&status)[2], unknown_status);

    // §11: a forced apply on /status moves status.phase; the updater keeps only the status
    // object it created.
    let status_body =
        json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "status": {"phase": "Done"}});
    let applied = apply(
        &kind,
        Some(&status),
        &status_body,
        "trace-kube-status",
        true,
        Some("status"),
        T,
    )
    .unwrap();
    assert_eq!(applied["status"], json!({"phase": "Done"}));
    assert_eq!(
        managed_fields(&applied),
        &json!([
            entry("trace-kube", "Apply", T, json!({"f:spec": {"f:size": {}}})),
            with_subresource(
                entry(
                    "trace-kube-status",
                    "Apply",
                    T,
                    json!({"f:status": {"f:phase": {}}})
                ),
                "status"
            ),
            entry("unknown", "Update", T, json!({"f:spec": {"f:note": {}}})),
            with_subresource(
                entry("unknown", "Update", T, json!({"f:status": {}})),
                "status"
            ),
        ])
    );
}

#[test]
fn kubectl_client_side_apply_patch_and_label_sequence() {
    let kind = gadget_kind();
    let (t1, t2, t3, t4, t5) = (
        "2026-11-28T07:03:08Z",
        "2026-11-28T07:03:13Z",
        "2026-11-28T07:03:43Z",
        "2026-11-28T07:03:56Z",
        "2026-11-28T07:03:56Z",
    );
    let annotation = |size: i64| {
        json!({"kubectl.kubernetes.io/last-applied-configuration": format!(
            "{{\"apiVersion\":\"demo.example.com/v1\",\"kind\":\"Gadget\",\"metadata\":{{\"annotations\":{{}},\"name\":\"g1\",\"namespace\":\"trace-ns\"}},\"spec\":{{\"note\":\"first\",\"size\":{size}}}}}\n")})
    };
    // §4: POST by kubectl-client-side-apply; the server defaulted color before recording.
    let mut created = json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget",
        "metadata": {"annotations": annotation(3), "name": "g1", "namespace": "trace-ns"},
        "spec": {"color": "red", "note": "first", "size": 3}});
    record_update(
        &kind,
        None,
        &mut created,
        "kubectl-client-side-apply",
        None,
        t1,
    );
    let csa_fields = json!({
        "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
        "f:spec": {".": {}, "f:color": {}, "f:note": {}, "f:size": {}}
    });
    assert_eq!(
        managed_fields(&created),
        &json!([entry(
            "kubectl-client-side-apply",
            "Update",
            t1,
            csa_fields.clone()
        )])
    );
    let live = stored(created, "g1");

    // §5: the three-way merge patch; same fields, new time.
    let mut v2 = merge_patch(
        &live,
        json!({"metadata": {"annotations": annotation(5)}, "spec": {"size": 5}}),
    );
    record_update(
        &kind,
        Some(&live),
        &mut v2,
        "kubectl-client-side-apply",
        None,
        t2,
    );
    assert_eq!(
        managed_fields(&v2),
        &json!([entry("kubectl-client-side-apply", "Update", t2, csa_fields)])
    );

    // kubectl patch of spec.note takes it from client-side apply.
    let mut v3 = merge_patch(&v2, json!({"spec": {"note": "second-change"}}));
    record_update(&kind, Some(&v2), &mut v3, "kubectl-patch", None, t3);

    // §10: status merge patch on /status.
    let mut v4 = merge_patch(
        &v3,
        json!({"status": {"phase": "Running", "observedGeneration": 2}}),
    );
    record_update(
        &kind,
        Some(&v3),
        &mut v4,
        "kubectl-patch",
        Some("status"),
        t4,
    );

    // §11: JSON patch of size and note (same manager, main resource).
    let mut v5 = merge_patch(&v4, json!({"spec": {"size": 7, "note": "json-patched"}}));
    record_update(&kind, Some(&v4), &mut v5, "kubectl-patch", None, t4);

    // §12: kubectl label.
    let mut v6 = merge_patch(&v5, json!({"metadata": {"labels": {"tier": "gold"}}}));
    record_update(&kind, Some(&v5), &mut v6, "kubectl-label", None, t5);
    assert_eq!(
        managed_fields(&v6),
        &json!([
            entry(
                "kubectl-client-side-apply",
                "Update",
                t2,
                json!({
                    "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                    "f:spec": {".": {}, "f:color": {}}
                })
            ),
            entry(
                "kubectl-label",
                "Update",
                t5,
                json!({"f:metadata": {"f:labels": {".": {}, "f:tier": {}}}})
            ),
            entry(
                "kubectl-patch",
                "Update",
                t4,
                json!({"f:spec": {"f:note": {}, "f:size": {}}})
            ),
            with_subresource(
                entry(
                    "kubectl-patch",
                    "Update",
                    t4,
                    json!({"f:status": {".": {}, "f:observedGeneration": {}, "f:phase": {}}})
                ),
                "status",
            ),
        ])
    );
    // Spec and status changes reached the object; the status fields were not recorded on the
    // main resource's entry.
    assert_eq!(
        v6["spec"],
        json!({"color": "red", "note": "json-patched", "size": 7})
    );
}

#[test]
fn server_side_apply_after_client_side_apply_takes_over_without_conflict() {
    let kind = gadget_kind();
    let last = "{\"apiVersion\":\"demo.example.com/v1\",\"kind\":\"Gadget\",\"metadata\":{\"annotations\":{},\"name\":\"g1\",\"namespace\":\"trace-ns\"},\"spec\":{\"size\":3}}\n";
    let mut created = json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget",
        "metadata": {"annotations": {LAST_APPLIED: last}, "name": "g1", "namespace": "trace-ns"},
        "spec": {"color": "red", "size": 3}});
    record_update(
        &kind,
        None,
        &mut created,
        "kubectl-client-side-apply",
        None,
        T,
    );
    let live = stored(created, "g1");

    let ssa = json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget",
        "metadata": {"name": "g1", "namespace": "trace-ns"}, "spec": {"size": 4}});
    // Another manager would conflict on spec.size...
    let conflicts = apply(&kind, Some(&live), &ssa, "someone", false, None, T).unwrap_err();
    assert_eq!(conflicts[0].field, ".spec.size");
    // ...kubectl does not: the field still holds what client-side apply last applied.
    let upgraded = apply(&kind, Some(&live), &ssa, "kubectl", false, None, T).unwrap();
    assert_eq!(upgraded["spec"]["size"], json!(4));
    assert_eq!(
        upgraded["metadata"]["annotations"][LAST_APPLIED],
        json!(
            "{\"apiVersion\":\"demo.example.com/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"g1\",\"namespace\":\"trace-ns\"},\"spec\":{\"size\":4}}\n"
        )
    );
    let entries = managed_fields(&upgraded).as_array().unwrap();
    assert_eq!(entries[0]["manager"], json!("kubectl"));
    assert_eq!(entries[0]["fieldsV1"], json!({"f:spec": {"f:size": {}}}));

    // Once the live value differs from the annotation, kubectl conflicts like anyone else.
    let mut drifted = merge_patch(&live, json!({"spec": {"size": 6}}));
    record_update(&kind, Some(&live), &mut drifted, "kubectl-edit", None, T);
    let conflicts = apply(&kind, Some(&drifted), &ssa, "kubectl", false, None, T).unwrap_err();
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using demo.example.com/v1: .spec.size"
    );
}

#[test]
fn applier_loses_fields_it_stops_applying_unless_someone_else_owns_them() {
    let kind = gadget_kind();
    let body = |labels: Value| {
        json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget",
               "metadata": {"name": "p", "labels": labels}, "spec": {"size": 1}})
    };
    let live = stored(
        apply(
            &kind,
            None,
            &body(json!({"a": "1", "b": "2", "c": "3"})),
            "app",
            false,
            None,
            T,
        )
        .unwrap(),
        "p",
    );
    // Someone else also sets label c (to the same value): shared ownership, no conflict.
    let mut shared = merge_patch(&live, json!({"metadata": {"labels": {"c": "3", "d": "4"}}}));
    record_update(&kind, Some(&live), &mut shared, "labeller", None, T);
    let entries = managed_fields(&shared).as_array().unwrap();
    assert_eq!(
        entries[1]["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:d": {}}}})
    );
    let other = json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget",
                       "metadata": {"name": "p", "labels": {"c": "3"}}});
    let shared = apply(&kind, Some(&shared), &other, "other", false, None, T).unwrap();

    // "app" now applies only a: b goes, c stays (owned by "other" too), d was never app's.
    let next = apply(
        &kind,
        Some(&shared),
        &body(json!({"a": "1"})),
        "app",
        false,
        None,
        T,
    )
    .unwrap();
    assert_eq!(
        next["metadata"]["labels"],
        json!({"a": "1", "c": "3", "d": "4"})
    );
    assert_eq!(next["spec"], json!({"size": 1}));
}

#[test]
fn finalizers_merge_as_a_set_and_owner_references_by_uid() {
    let kind = gadget_kind();
    let body = |finalizer: &str, uid: &str| {
        json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget",
               "metadata": {"name": "f", "finalizers": [finalizer],
                            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": uid, "uid": uid}]}})
    };
    let live = stored(
        apply(
            &kind,
            None,
            &body("a.example/one", "u1"),
            "one",
            false,
            None,
            T,
        )
        .unwrap(),
        "f",
    );
    let both = apply(
        &kind,
        Some(&live),
        &body("a.example/two", "u2"),
        "two",
        false,
        None,
        T,
    )
    .unwrap();
    assert_eq!(
        both["metadata"]["finalizers"],
        json!(["a.example/one", "a.example/two"])
    );
    assert_eq!(
        both["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let two = &managed_fields(&both)[1];
    assert_eq!(
        two["fieldsV1"],
        json!({"f:metadata": {
            "f:finalizers": {"v:\"a.example/two\"": {}},
            "f:ownerReferences": {"k:{\"uid\":\"u2\"}": {}}
        }})
    );
    // "one" stops applying: only its own items go.
    let only_two = apply(
        &kind,
        Some(&both),
        &json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "metadata": {"name": "f"}}),
        "one",
        false,
        None,
        T,
    )
    .unwrap();
    assert_eq!(only_two["metadata"]["finalizers"], json!(["a.example/two"]));
    assert_eq!(
        only_two["metadata"]["ownerReferences"][0]["uid"],
        json!("u2")
    );
}

#[test]
fn builtin_creates_record_the_fields_kubectl_shows() {
    // kubectl-traces.md §3: the namespace label comes from defaulting, spec.finalizers and
    // status from the server afterwards.
    let ns_kind = builtin_kind("", "Namespace", "namespaces", true);
    let mut ns = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "trace-ns", "labels": {"kubernetes.io/metadata.name": "trace-ns"}},
        "status": {"phase": "Active"}});
    record_update(&ns_kind, None, &mut ns, "kubectl-create", None, T);
    assert_eq!(
        managed_fields(&ns),
        &json!([{"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kubectl-create",
                 "operation": "Update", "time": T,
                 "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}}}])
    );

    // kubectl create secret generic.
    let secret_kind = builtin_kind("", "Secret", "secrets", false);
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s1", "namespace": "trace-ns"},
        "data": {"password": "bm90LWEtcmVhbC1zZWNyZXQ=", "username": "ZGVtbw=="}, "type": "Opaque"});
    record_update(&secret_kind, None, &mut secret, "kubectl-create", None, T);
    assert_eq!(
        managed_fields(&secret)[0]["fieldsV1"],
        json!({"f:data": {".": {}, "f:password": {}, "f:username": {}}, "f:type": {}})
    );

    // kubectl-traces.md §1: a CRD's plain structs (spec, names) exist in the zero object, its
    // pointer (conversion) does not.
    let crd_kind = ResourceKind {
        version: "v1".into(),
        ..builtin_kind(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            true,
        )
    };
    let mut crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.demo.example.com", "annotations": {LAST_APPLIED: "{}"}},
        "spec": {"group": "demo.example.com", "conversion": {"strategy": "None"},
                 "names": {"plural": "gadgets", "singular": "gadget", "shortNames": ["gd"],
                           "kind": "Gadget", "listKind": "GadgetList"},
                 "scope": "Namespaced", "versions": [{"name": "v1", "served": true, "storage": true}]}});
    record_update(
        &crd_kind,
        None,
        &mut crd,
        "kubectl-client-side-apply",
        None,
        T,
    );
    assert_eq!(
        managed_fields(&crd)[0]["fieldsV1"],
        json!({
            "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
            "f:spec": {
                "f:conversion": {".": {}, "f:strategy": {}},
                "f:group": {},
                "f:names": {"f:kind": {}, "f:listKind": {}, "f:plural": {}, "f:shortNames": {}, "f:singular": {}},
                "f:scope": {},
                "f:versions": {}
            }
        })
    );
}

#[test]
fn managed_fields_in_requests_replace_clear_or_fall_back() {
    let kind = gadget_kind();
    let mut created = json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget",
        "metadata": {"name": "m"}, "spec": {"size": 1}});
    record_update(&kind, None, &mut created, "creator", None, T);
    let live = stored(created, "m");

    // An update that leaves managedFields out keeps the stored ones.
    let mut update = live.clone();
    managed::strip(&mut update);
    update["spec"]["note"] = json!("n");
    record_update(&kind, Some(&live), &mut update, "editor", None, T);
    assert_eq!(managed_fields(&update).as_array().unwrap().len(), 2);

    // `[{}]` clears them, and then untracked stays untracked.
    let mut cleared = live.clone();
    cleared["metadata"]["managedFields"] = json!([{}]);
    record_update(&kind, Some(&live), &mut cleared, "editor", None, T);
    assert!(cleared["metadata"].get("managedFields").is_none());
    let mut later = merge_patch(&cleared, json!({"spec": {"size": 2}}));
    record_update(&kind, Some(&cleared), &mut later, "editor", None, T);
    assert!(later["metadata"].get("managedFields").is_none());

    // The first apply to an untracked object hands what exists to "before-first-apply".
    let applied = apply(
        &kind,
        Some(&later),
        &json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "metadata": {"name": "m"}, "spec": {"size": 5}}),
        "app",
        false,
        None,
        T,
    );
    let conflicts = applied.unwrap_err();
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using demo.example.com/v1: .spec.size"
    );
}

#[test]
fn no_op_update_keeps_times_and_entries() {
    let kind = gadget_kind();
    let mut created = json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget",
        "metadata": {"name": "n"}, "spec": {"size": 1}});
    record_update(&kind, None, &mut created, "creator", None, T);
    let live = stored(created, "n");
    let mut same = live.clone();
    record_update(
        &kind,
        Some(&live),
        &mut same,
        "someone-else",
        None,
        "2030-01-01T00:00:00Z",
    );
    assert_eq!(same, live);
}

#[test]
fn check_applied_refuses_what_the_real_server_refuses() {
    let kind = gadget_kind();
    let err = check_applied(
        &kind,
        &json!({"apiVersion": "demo.example.com/v2", "kind": "Gadget"}),
    )
    .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "invalid object type: demo.example.com/v2, Kind=Gadget")
    );
    let err = check_applied(
        &kind,
        &json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "metadata": {"managedFields": []}}),
    )
    .unwrap_err();
    assert_eq!(err.message, "metadata.managedFields must be nil");
    assert!(check_applied(&kind, &applied_gadget(1, "red")).is_ok());

    let cm = builtin_kind("", "ConfigMap", "configmaps", false);
    let err = check_applied(&cm, &json!({"apiVersion": "v1", "kind": "Secret"})).unwrap_err();
    assert_eq!(err.message, "invalid object type: /v1, Kind=Secret");
    let err = check_applied(
        &cm,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns",
                "ownerReferences": [{"uid": "u", "name": "a"}, {"uid": "u", "name": "b"}]}}),
    )
    .unwrap_err();
    assert_eq!(err.code, 500);
    assert_eq!(
        err.message,
        "failed to create typed patch object (ns/c; /v1, Kind=ConfigMap): .metadata.ownerReferences: duplicate entries for key [uid=\"u\"]"
    );
}

#[test]
fn conflicts_with_several_managers_are_grouped_by_manager() {
    let kind = gadget_kind();
    let live = stored(
        apply(
            &kind,
            None,
            &applied_gadget(2, "green"),
            "alice",
            false,
            None,
            T,
        )
        .unwrap(),
        "ssa1",
    );
    let mut by_carol = merge_patch(&live, json!({"spec": {"color": "red"}}));
    record_update(&kind, Some(&live), &mut by_carol, "carol", None, T);
    let mut status = merge_patch(&by_carol, json!({"status": {"phase": "Ready"}}));
    record_update(
        &kind,
        Some(&by_carol),
        &mut status,
        "dave",
        Some("status"),
        T,
    );

    let body = json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "metadata": {"name": "ssa1"},
                      "spec": {"size": 9, "color": "blue"}, "status": {"phase": "Done"}});
    // On the main resource status is not the applier's to take: only spec conflicts.
    let conflicts = apply(&kind, Some(&status), &body, "bob", false, None, T).unwrap_err();
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.size\nconflicts with \"carol\" using demo.example.com/v1:\n- .spec.color"
    );
    // On /status only status is: the updater of the subresource is named with it.
    let conflicts =
        apply(&kind, Some(&status), &body, "bob", false, Some("status"), T).unwrap_err();
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"dave\" with subresource \"status\" using demo.example.com/v1: .status.phase"
    );
}
