//! structured-merge-diff's `merge.Updater`: how an update or an apply changes ownership, when an
//! apply conflicts, and which fields an applier loses (pruning) when it stops applying them.

use super::fieldpath::{Path, Set};
use super::managed::{Entry, Managers};
use super::schema::Ty;
use super::typed::{self, Comparison, ensure_named_fields_are_members as ensure_named};
use serde_json::Value;

/// Conflicting (manager identifier, path) pairs, in the real server's order within a manager.
pub type Conflicts = Vec<(String, Path)>;

pub struct Updater<'a> {
    pub ty: &'a Ty,
    /// Fields the endpoint's strategy resets; nobody gains or loses them through it.
    pub ignored: &'a Set,
    pub version: &'a str,
}

impl Updater<'_> {
    /// Compares the objects; other managers lose what was changed (conflicts, refused unless
    /// `force`) and what was removed.
    fn update(
        &self,
        old: &Value,
        new: &Value,
        managers: &mut Managers,
        workflow: &str,
        force: bool,
    ) -> Result<Comparison, Conflicts> {
        let compare = typed::compare(old, new, self.ty);
        let filtered = compare.without(self.ignored);
        let changed = filtered.modified.union(&filtered.added);
        let mut conflicts: Vec<(String, Set)> = Vec::new();
        for (id, entry) in managers.iter() {
            if id == workflow {
                continue;
            }
            let set = entry.set.intersection(&changed);
            if !set.is_empty() {
                conflicts.push((id.clone(), set));
            }
        }
        if !force && !conflicts.is_empty() {
            return Err(conflicts
                .into_iter()
                .flat_map(|(id, set)| set.paths().into_iter().map(move |p| (id.clone(), p)))
                .collect());
        }
        for (id, set) in &conflicts {
            if let Some(e) = managers.get_mut(id) {
                e.set = e.set.difference(set);
            }
        }
        if !filtered.removed.is_empty() {
            for (id, e) in managers.iter_mut() {
                if id != workflow {
                    e.set = e.set.difference(&filtered.removed);
                }
            }
        }
        managers.retain(|_, e| !e.set.is_empty());
        Ok(compare)
    }

    /// `Updater.Update`: `manager` gains what changed from `live` to `new`.
    pub fn update_ownership(
        &self,
        live: &Value,
        new: &Value,
        managers: &mut Managers,
        manager: &str,
    ) {
        let Ok(compare) = self.update(live, new, managers, manager, true) else {
            return;
        };
        let previous = managers
            .get(manager)
            .map(|e| e.set.clone())
            .unwrap_or_default();
        let set = previous
            .difference(&compare.removed)
            .union(&compare.modified)
            .union(&compare.added)
            .recursive_difference(self.ignored);
        if set.is_empty() {
            managers.remove(manager);
            return;
        }
        let time = managers.get(manager).and_then(|e| e.time.clone());
        managers.insert(
            manager.to_string(),
            Entry {
                set,
                api_version: self.version.to_string(),
                applied: false,
                time,
            },
        );
    }

    /// `Updater.Apply`: merges `config` onto `live`, makes `manager` own exactly what it applied,
    /// prunes what it applied before and no longer applies, and checks conflicts. `Ok(None)`
    /// when the object does not change.
    pub fn apply(
        &self,
        live: &Value,
        config: &Value,
        managers: &mut Managers,
        manager: &str,
        force: bool,
    ) -> Result<Option<Value>, Conflicts> {
        let merged = typed::merge(live, config, self.ty);
        let last = managers.get(manager).cloned();
        let set = typed::to_field_set(config, self.ty).recursive_difference(self.ignored);
        managers.insert(
            manager.to_string(),
            Entry {
                set,
                api_version: self.version.to_string(),
                applied: true,
                time: last.as_ref().and_then(|e| e.time.clone()),
            },
        );
        let new = self.prune(merged, managers, last.as_ref());
        self.update(live, &new, managers, manager, force)?;
        Ok((!super::fieldpath::values_equal(live, &new)).then_some(new))
    }

    /// Removes what the applier owned last time, does not apply now, and nobody else owns.
    fn prune(&self, merged: Value, managers: &Managers, last: Option<&Entry>) -> Value {
        let Some(last) = last.filter(|l| !l.set.is_empty()) else {
            return merged;
        };
        let ty = Some(self.ty);
        let pruned = typed::remove_items(&merged, &ensure_named(&last.set, ty), self.ty);

        // Add back what any manager (the applier's new set included) owns.
        let owned = managers
            .values()
            .fold(Set::new(), |acc, e| acc.union(&e.set));
        let merged_set = ensure_named(&typed::to_field_set(&merged, self.ty), ty);
        let pruned_set = ensure_named(&typed::to_field_set(&pruned, self.ty), ty);
        let keep = pruned_set.union(&ensure_named(&owned, ty));
        let pruned = typed::remove_items(&merged, &merged_set.difference(&keep), self.ty);

        // Only what the applier owned before may go: add back unowned and updaters' fields.
        let pruned_set = ensure_named(&typed::to_field_set(&pruned, self.ty), ty);
        let dangling = merged_set
            .difference(&pruned_set)
            .intersection(&ensure_named(&last.set, ty));
        typed::remove_items(&merged, &dangling, self.ty)
    }
}
