//! What kube-controller-manager and the apiextensions controllers would do: garbage
//! collection through ownerReferences (background, foreground, orphan), emptying and removing
//! deleted namespaces, and removing a deleted CRD's objects.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::state::{Shared, State};
use crate::store::ObjKey;
use crate::write::{self, CRD_CLEANUP, DeleteReq, Propagation};

const CRD_STORE: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// Runs the controllers whenever a write wakes them, until `shared` is dropped.
pub async fn run(shared: std::sync::Weak<Shared>) {
    loop {
        let notified = {
            let Some(s) = shared.upgrade() else { return };
            // Small delay so clients observe the owner's deletion before its dependents', as
            // with the real, asynchronous garbage collector.
            let n = async move { s.controllers.notified().await };
            Box::pin(n)
        };
        notified.await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let Some(s) = shared.upgrade() else { return };
        let mut state = s.lock();
        for _ in 0..50 {
            if !step(&mut state) {
                break;
            }
        }
    }
}

/// One pass of every controller; whether anything changed.
pub fn step(state: &mut State) -> bool {
    let mut changed = cleanup_crds(state);
    changed |= finalize_namespaces(state);
    changed |= collect_garbage(state);
    changed
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
}

/// Removes one finalizer; the object goes when it was the last one and it is being deleted.
fn remove_finalizer(state: &mut State, store: &str, key: &ObjKey, finalizer: &str) {
    let Some(obj) = state.store.get(store, key) else {
        return;
    };
    let mut list = finalizers(&obj);
    list.retain(|f| f != finalizer);
    if list.is_empty() && deleting(&obj) {
        state.store.remove(store, key);
        return;
    }
    let mut updated = (*obj).clone();
    if list.is_empty() {
        updated["metadata"]
            .as_object_mut()
            .map(|m| m.remove("finalizers"));
    } else {
        updated["metadata"]["finalizers"] = json!(list);
    }
    state.store.put(store, key.clone(), updated);
}

fn delete_background(
    state: &mut State,
    store: &str,
    key: ObjKey,
    propagation: Propagation,
) -> bool {
    let Some(served) = state.registry.by_store(store) else {
        // The kind is no longer served (its CRD is gone): drop the object.
        return state.store.remove(store, &key).is_some();
    };
    let req = DeleteReq {
        served: &served,
        key,
        propagation: Some(propagation),
        precondition_uid: None,
        precondition_rv: None,
        dry_run: false,
    };
    write::delete(state, &req).is_ok()
}

fn cleanup_crds(state: &mut State) -> bool {
    let mut changed = false;
    for (key, crd) in state.store.entries(CRD_STORE, None) {
        if !deleting(&crd) || !finalizers(&crd).iter().any(|f| f == CRD_CLEANUP) {
            continue;
        }
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("");
        let store = format!("{group}/{plural}");
        for (k, obj) in state.store.entries(&store, None) {
            if !deleting(&obj) {
                changed |= delete_background(state, &store, k, Propagation::Background);
            }
        }
        if state.store.count(&store) == 0 {
            remove_finalizer(state, CRD_STORE, &key, CRD_CLEANUP);
            state.rebuild_registry();
            changed = true;
        }
    }
    changed
}

fn finalize_namespaces(state: &mut State) -> bool {
    let mut changed = false;
    for (key, ns) in state.store.entries("/namespaces", None) {
        if !deleting(&ns) {
            continue;
        }
        let name = key.1.clone();
        let mut remaining = 0;
        for store in state.store.stores() {
            if store == "/namespaces" {
                continue;
            }
            for (k, obj) in state.store.entries(&store, Some(&name)) {
                remaining += 1;
                if !deleting(&obj) {
                    changed |= delete_background(state, &store, k, Propagation::Background);
                }
            }
        }
        let spec_finalizers = ns
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|f| f.as_str() != Some("kubernetes"))
                    .count()
            })
            .unwrap_or(0);
        let left: usize = state
            .store
            .stores()
            .iter()
            .filter(|s| s.as_str() != "/namespaces")
            .map(|s| state.store.entries(s, Some(&name)).len())
            .sum();
        if left == 0 && spec_finalizers == 0 && finalizers(&ns).is_empty() {
            state.store.remove("/namespaces", &key);
            changed = true;
        }
        let _ = remaining;
    }
    changed
}

struct OwnerRef {
    uid: String,
    block: bool,
}

fn owner_refs(obj: &Value) -> Vec<OwnerRef> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .map(|r| OwnerRef {
                    uid: r
                        .get("uid")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    block: r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn collect_garbage(state: &mut State) -> bool {
    let mut changed = false;
    let owned = state.store.owned();
    // Owners being deleted with foreground or orphan propagation.
    let mut owners_done: Vec<(String, ObjKey, &'static str)> = Vec::new();
    let mut dependents_of: std::collections::HashMap<String, Vec<(String, ObjKey, Arc<Value>)>> =
        std::collections::HashMap::new();
    for (store, key) in &owned {
        if let Some(obj) = state.store.get(store, key) {
            for r in owner_refs(&obj) {
                dependents_of.entry(r.uid).or_default().push((
                    store.clone(),
                    key.clone(),
                    obj.clone(),
                ));
            }
        }
    }
    for (store, key) in state.store.deleting() {
        let Some(obj) = state.store.get(&store, &key) else {
            continue;
        };
        let f = finalizers(&obj);
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let deps = dependents_of.get(&uid).cloned().unwrap_or_default();
        if f.iter().any(|x| x == "orphan") {
            for (dstore, dkey, dobj) in &deps {
                let mut updated = (**dobj).clone();
                if let Some(refs) = updated
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                    if refs.is_empty() {
                        updated["metadata"]
                            .as_object_mut()
                            .map(|m| m.remove("ownerReferences"));
                    }
                }
                state.store.put(dstore, dkey.clone(), updated);
            }
            owners_done.push((store.clone(), key.clone(), "orphan"));
        } else if f.iter().any(|x| x == "foregroundDeletion") {
            let mut blocking = false;
            for (dstore, dkey, dobj) in &deps {
                if owner_refs(dobj).iter().any(|r| r.uid == uid && r.block) {
                    blocking = true;
                }
                if !deleting(dobj) {
                    changed |=
                        delete_background(state, dstore, dkey.clone(), Propagation::Foreground);
                }
            }
            if !blocking {
                owners_done.push((store.clone(), key.clone(), "foregroundDeletion"));
            }
        }
    }
    for (store, key, finalizer) in owners_done {
        remove_finalizer(state, &store, &key, finalizer);
        changed = true;
    }
    // Dependents whose owners are all gone are deleted; references to vanished owners of
    // objects that still have another owner are removed.
    for (store, key) in state.store.owned() {
        let Some(obj) = state.store.get(&store, &key) else {
            continue;
        };
        if deleting(&obj) {
            continue;
        }
        let refs = owner_refs(&obj);
        let dangling: Vec<&str> = refs
            .iter()
            .filter(|r| state.store.by_uid(&r.uid).is_none())
            .map(|r| r.uid.as_str())
            .collect();
        if dangling.is_empty() {
            continue;
        }
        if dangling.len() == refs.len() {
            changed |= delete_background(state, &store, key, Propagation::Background);
        } else {
            let mut updated = (*obj).clone();
            if let Some(list) = updated
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                list.retain(|r| {
                    !dangling.contains(&r.get("uid").and_then(Value::as_str).unwrap_or(""))
                });
            }
            state.store.put(&store, key, updated);
            changed = true;
        }
    }
    changed
}
