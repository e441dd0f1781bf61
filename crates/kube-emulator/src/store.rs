//! The object store: every object of every kind under one resourceVersion counter, the
//! retained change history that watches resume from, and the open watches to notify.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;

/// (namespace, name); the namespace is empty for cluster-scoped objects. Ordering matches
/// the real server's key order (namespace, then name).
pub type ObjKey = (String, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One committed change.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub store: String,
    pub namespace: String,
    pub change: ChangeType,
    /// The object after the change (for `Deleted`: the last state with the deletion's RV).
    pub object: Arc<Value>,
    /// The object before the change (for label-selector transitions).
    pub prev: Option<Arc<Value>>,
}

struct Watcher {
    store: String,
    namespace: Option<String>,
    tx: mpsc::UnboundedSender<Arc<Change>>,
}

pub struct Store {
    rv: u64,
    objects: HashMap<String, BTreeMap<ObjKey, Arc<Value>>>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    /// Watches from a resourceVersion below this get 410 Gone.
    compacted: u64,
    watchers: Vec<Watcher>,
    /// uid -> (store, key), to resolve ownerReferences.
    uids: HashMap<String, (String, ObjKey)>,
    /// Objects that carry ownerReferences (what the garbage collector looks at).
    owned: BTreeSet<(String, ObjKey)>,
    /// Objects with a deletionTimestamp (owners whose propagation the collector completes).
    deleting: BTreeSet<(String, ObjKey)>,
}

impl Store {
    pub fn new(history_limit: usize) -> Store {
        Store {
            rv: 0,
            objects: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 0,
            watchers: Vec::new(),
            uids: HashMap::new(),
            owned: BTreeSet::new(),
            deleting: BTreeSet::new(),
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch may start from.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    pub fn get(&self, store: &str, key: &ObjKey) -> Option<Arc<Value>> {
        self.objects.get(store).and_then(|m| m.get(key)).cloned()
    }

    /// Objects of a store, optionally within one namespace, in key order, starting after `after`.
    pub fn list(&self, store: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
        let Some(map) = self.objects.get(store) else {
            return Vec::new();
        };
        match namespace {
            None => map.values().cloned().collect(),
            Some(ns) => map
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    /// Keys and objects of a store (for paging and controllers).
    pub fn entries(&self, store: &str, namespace: Option<&str>) -> Vec<(ObjKey, Arc<Value>)> {
        let Some(map) = self.objects.get(store) else {
            return Vec::new();
        };
        map.iter()
            .filter(|((n, _), _)| namespace.is_none_or(|ns| ns == n))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn stores(&self) -> Vec<String> {
        self.objects.keys().cloned().collect()
    }

    pub fn count(&self, store: &str) -> usize {
        self.objects.get(store).map_or(0, BTreeMap::len)
    }

    /// (store, key) of every object with ownerReferences.
    pub fn owned(&self) -> Vec<(String, ObjKey)> {
        self.owned.iter().cloned().collect()
    }

    /// (store, key) of every object being deleted.
    pub fn deleting(&self) -> Vec<(String, ObjKey)> {
        self.deleting.iter().cloned().collect()
    }

    pub fn by_uid(&self, uid: &str) -> Option<(String, ObjKey)> {
        self.uids.get(uid).cloned()
    }

    /// Stores `object` under a new resourceVersion and records the change.
    pub fn put(&mut self, store: &str, key: ObjKey, mut object: Value) -> Arc<Value> {
        self.rv += 1;
        set_rv(&mut object, self.rv);
        let object = Arc::new(object);
        let entry = (store.to_string(), key.clone());
        if object
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty())
        {
            self.owned.insert(entry.clone());
        } else {
            self.owned.remove(&entry);
        }
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            self.deleting.insert(entry);
        } else {
            self.deleting.remove(&entry);
        }
        if let Some(uid) = object.pointer("/metadata/uid").and_then(Value::as_str) {
            self.uids
                .insert(uid.to_string(), (store.to_string(), key.clone()));
        }
        let prev = self
            .objects
            .entry(store.to_string())
            .or_default()
            .insert(key.clone(), object.clone());
        let change = if prev.is_some() {
            ChangeType::Modified
        } else {
            ChangeType::Added
        };
        self.record(Change {
            rv: self.rv,
            store: store.to_string(),
            namespace: key.0,
            change,
            object: object.clone(),
            prev,
        });
        object
    }

    /// Removes an object; the `DELETED` event carries its last state with a new resourceVersion.
    pub fn remove(&mut self, store: &str, key: &ObjKey) -> Option<Arc<Value>> {
        let prev = self.objects.get_mut(store)?.remove(key)?;
        let entry = (store.to_string(), key.clone());
        self.owned.remove(&entry);
        self.deleting.remove(&entry);
        if let Some(uid) = prev.pointer("/metadata/uid").and_then(Value::as_str) {
            self.uids.remove(uid);
        }
        self.rv += 1;
        let mut last = (*prev).clone();
        set_rv(&mut last, self.rv);
        let last = Arc::new(last);
        self.record(Change {
            rv: self.rv,
            store: store.to_string(),
            namespace: key.0.clone(),
            change: ChangeType::Deleted,
            object: last.clone(),
            prev: Some(prev),
        });
        Some(last)
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        self.watchers.retain(|w| {
            if w.store != change.store
                || w.namespace
                    .as_ref()
                    .is_some_and(|ns| *ns != change.namespace)
            {
                return !w.tx.is_closed();
            }
            w.tx.send(change.clone()).is_ok()
        });
        self.history.push_back(change);
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
    }

    /// Forgets all history: a watch from any earlier resourceVersion now gets 410 Gone.
    pub fn expire_history(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// Registers a watch on `store` and returns the retained changes after `since` that it
    /// must replay first; `Err(oldest)` when `since` is older than the retained history.
    #[allow(clippy::type_complexity)]
    pub fn watch(
        &mut self,
        store: &str,
        namespace: Option<&str>,
        since: Option<u64>,
    ) -> Result<(Vec<Arc<Change>>, mpsc::UnboundedReceiver<Arc<Change>>), u64> {
        let mut backlog = Vec::new();
        if let Some(since) = since {
            if since < self.compacted {
                return Err(self.compacted.max(1));
            }
            backlog = self
                .history
                .iter()
                .filter(|c| {
                    c.rv > since && c.store == store && namespace.is_none_or(|ns| ns == c.namespace)
                })
                .cloned()
                .collect();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        self.watchers.push(Watcher {
            store: store.to_string(),
            namespace: namespace.map(String::from),
            tx,
        });
        Ok((backlog, rx))
    }

    /// Drops every open watch channel (their streams end).
    pub fn close_watches(&mut self) {
        self.watchers.clear();
    }

    pub fn open_watches(&self) -> usize {
        self.watchers.iter().filter(|w| !w.tx.is_closed()).count()
    }
}

fn set_rv(object: &mut Value, rv: u64) {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]["resourceVersion"] = json!(rv.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, n: &str) -> ObjKey {
        (ns.to_string(), n.to_string())
    }

    #[test]
    fn one_counter_and_history_replay() {
        let mut s = Store::new(10);
        s.put(
            "/configmaps",
            key("a", "x"),
            json!({"metadata": {"name": "x"}}),
        );
        s.put(
            "g/gadgets",
            key("a", "y"),
            json!({"metadata": {"name": "y"}}),
        );
        assert_eq!(s.resource_version(), 2);
        let (backlog, _rx) = s.watch("/configmaps", None, Some(0)).unwrap();
        assert_eq!(backlog.len(), 1);
        let deleted = s.remove("/configmaps", &key("a", "x")).unwrap();
        assert_eq!(deleted["metadata"]["resourceVersion"], "3");
    }

    #[test]
    fn compaction_makes_old_versions_gone() {
        let mut s = Store::new(2);
        for i in 0..5 {
            s.put("/cm", key("a", &i.to_string()), json!({}));
        }
        assert!(s.watch("/cm", None, Some(1)).is_err());
        assert!(s.watch("/cm", None, Some(3)).is_ok());
        s.expire_history();
        assert_eq!(s.watch("/cm", None, Some(4)).unwrap_err(), 5);
    }

    #[test]
    fn namespace_listing_uses_key_order() {
        let mut s = Store::new(10);
        s.put("/cm", key("b", "1"), json!({"n": 1}));
        s.put("/cm", key("a", "2"), json!({"n": 2}));
        s.put("/cm", key("a", "1"), json!({"n": 3}));
        let all: Vec<_> = s.list("/cm", None).iter().map(|v| v["n"].clone()).collect();
        assert_eq!(all, vec![json!(3), json!(2), json!(1)]);
        assert_eq!(s.list("/cm", Some("a")).len(), 2);
    }
}
