//! Server-side apply through the server: create by apply, conflicts between managers, force,
//! the 422s of bad apply options, and managedFields of other writes.

mod common;

use common::*;
use kube::api::{Patch, PatchParams};
use serde_json::json;

fn applied(size: i64, color: &str) -> serde_json::Value {
    json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "metadata": {"name": "ssa1"}, "spec": {"size": size, "color": color}})
}

#[tokio::test]
async fn conflicting_managers_get_409_until_forced() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let api = gadgets(&emu, "default");
    let created = api
        .patch(
            "ssa1",
            &PatchParams::apply("alice"),
            &Patch::Apply(applied(2, "green")),
        )
        .await
        .unwrap();
    let mf = created.metadata.managed_fields.unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("alice"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    let err = api_error(
        api.patch(
            "ssa1",
            &PatchParams::apply("bob"),
            &Patch::Apply(applied(9, "blue")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 409);
    assert_eq!(
        err.message,
        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.color\n- .spec.size"
    );
    // An update by another manager takes ownership without conflict...
    api.patch(
        "ssa1",
        &PatchParams {
            field_manager: Some("carol".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"spec": {"size": 3}})),
    )
    .await
    .unwrap();
    // ...so alice's re-apply of the old value now conflicts with carol.
    let err = api_error(
        api.patch(
            "ssa1",
            &PatchParams::apply("alice"),
            &Patch::Apply(applied(2, "green")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"carol\" using demo.example.com/v1: .spec.size"
    );
    let forced = api
        .patch(
            "ssa1",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(applied(9, "blue")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"], json!({"size": 9, "color": "blue"}));
    assert_eq!(forced.metadata.generation, Some(3));
}

#[tokio::test]
async fn apply_options_are_checked() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let api = gadgets(&emu, "default");
    let err = api_error(
        api.patch(
            "ssa1",
            &PatchParams::default(),
            &Patch::Apply(applied(2, "green")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert_eq!(
        err.message,
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    api.patch(
        "ssa1",
        &PatchParams::apply("alice"),
        &Patch::Apply(applied(2, "green")),
    )
    .await
    .unwrap();
    // kube-rs refuses this combination itself, so send it raw.
    let req = http::Request::patch(
        "/apis/demo.example.com/v1/namespaces/default/gadgets/ssa1?fieldManager=carol&force=true",
    )
    .header("content-type", "application/merge-patch+json")
    .body(br#"{"spec":{"size":3}}"#.to_vec())
    .unwrap();
    let err = api_error(
        emu.client()
            .request::<serde_json::Value>(req)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"
    );
}

#[tokio::test]
async fn status_is_applied_through_the_subresource() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let api = gadgets(&emu, "default");
    api.patch(
        "ssa1",
        &PatchParams::apply("alice"),
        &Patch::Apply(applied(2, "green")),
    )
    .await
    .unwrap();
    let status = json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "metadata": {"name": "ssa1"}, "status": {"phase": "Done"}});
    let after = api
        .patch_status(
            "ssa1",
            &PatchParams::apply("alice-status").force(),
            &Patch::Apply(status),
        )
        .await
        .unwrap();
    assert_eq!(after.data["status"]["phase"], "Done");
    assert_eq!(after.metadata.generation, Some(1));
    let entry = after
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("alice-status"))
        .unwrap();
    assert_eq!(entry.subresource.as_deref(), Some("status"));
}
