//! A kube-rs Controller, Recorder and metadata watcher against the emulator, the way the
//! operator uses them: reconcile applies an owned Secret and the status, GC cleans up.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as RecordedEvent, EventType, Recorder, Reporter};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Error(#[from] kube::Error);

struct Ctx {
    client: kube::Client,
    recorder: Recorder,
}

async fn reconcile(g: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = g.namespace().unwrap();
    let name = g.name_any();
    let owner = g.controller_owner_ref(&gadget_resource()).unwrap();
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("{name}-token"), "labels": {"app.kubernetes.io/managed-by": "test"}, "ownerReferences": [owner]},
        "stringData": {"size": g.data["spec"]["size"].to_string()}
    });
    let pp = PatchParams::apply("test-operator").force();
    Api::<Secret>::namespaced(ctx.client.clone(), &ns)
        .patch(&format!("{name}-token"), &pp, &Patch::Apply(secret))
        .await?;
    let status = json!({"apiVersion": "demo.example.com/v1", "kind": "Gadget", "status": {
        "phase": "Ready", "observedGeneration": g.metadata.generation
    }});
    Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ns, &gadget_resource())
        .patch_status(&name, &pp, &Patch::Apply(status))
        .await?;
    ctx.recorder
        .publish(
            &RecordedEvent {
                type_: EventType::Normal,
                reason: "Reconciled".into(),
                note: Some("all good".into()),
                action: "Reconcile".into(),
                secondary: None,
            },
            &g.object_ref(&gadget_resource()),
        )
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<DynamicObject>, _: &Error, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test]
async fn a_controller_reconciles_owns_and_gets_cleaned_up() {
    let emu = emulator().await;
    install_gadget_crd(&emu).await;
    let client = emu.client();
    let gadgets_api = gadgets(&emu, "default");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "test-operator".into(),
                instance: Some("pod-0".into()),
            },
        ),
    });
    let controller = Controller::new_with(
        Api::<DynamicObject>::all_with(client.clone(), &gadget_resource()),
        watcher::Config::default(),
        gadget_resource(),
    )
    .owns(
        Api::<Secret>::all(client.clone()),
        watcher::Config::default().labels("app.kubernetes.io/managed-by=test"),
    )
    .run(reconcile, error_policy, ctx)
    .for_each(|_| async {});
    let running = tokio::spawn(controller);

    gadgets_api
        .create(&PostParams::default(), &gadget("g1", 3))
        .await
        .unwrap();
    eventually("status written by the controller", || async {
        gadgets_api.get("g1").await.unwrap().data["status"]["phase"] == "Ready"
    })
    .await;
    let secret = secrets.get("g1-token").await.unwrap();
    assert_eq!(secret.data.unwrap()["size"].0, b"3");
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(client.clone(), "default");
    eventually("event recorded", || async {
        !events
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    })
    .await;

    // Deleting the owned Secret makes the controller recreate it.
    secrets
        .delete("g1-token", &DeleteParams::default())
        .await
        .unwrap();
    eventually("secret recreated", || async {
        secrets.get_opt("g1-token").await.unwrap().is_some()
    })
    .await;

    // A metadata watcher sees the Secret through PartialObjectMetadata.
    let mut meta = watcher(
        Api::<PartialObjectMeta<Secret>>::namespaced(client.clone(), "default"),
        watcher::Config::default(),
    )
    .applied_objects()
    .boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), meta.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("g1-token"));

    gadgets_api
        .delete("g1", &DeleteParams::default())
        .await
        .unwrap();
    eventually("owned secret garbage-collected", || async {
        secrets.get_opt("g1-token").await.unwrap().is_none()
    })
    .await;
    running.abort();
}
