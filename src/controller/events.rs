//! Kubernetes Events (events.k8s.io/v1) about the operator's resources.
//!
//! An Event that repeats one already published about the same object, with the same type,
//! reason and note, joins that Event's series (count and last time); any other is a new Event.
//! kube-runtime's `Recorder` folds every Event of one reason into the first one's series and
//! keeps that first note, so after a rotation `kubectl get events` showed a fresh row telling
//! the first token's story: here each row says what happened.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};

/// How long a published Event is remembered for its series (as kube-runtime and client-go).
const SERIES_TTL: SignedDuration = SignedDuration::from_mins(6);

/// The API server refuses an Event whose note is longer (in bytes).
const MAX_NOTE_BYTES: usize = 1024;

/// What makes two Events the same story.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct StoryKey {
    /// kind, namespace, name and uid of the object the Event is about.
    regarding: [String; 4],
    warning: bool,
    reason: String,
    note: String,
}

/// An Event as published: where it is and how often it was seen.
#[derive(Clone, Debug)]
struct Published {
    namespace: String,
    name: String,
    count: i32,
    last_seen: Timestamp,
}

/// Publishes Events, folding exact repeats into series.
pub struct EventRecorder {
    client: kube::Client,
    reporter: Reporter,
    published: Mutex<HashMap<StoryKey, Published>>,
}

impl EventRecorder {
    pub fn new(client: kube::Client, reporter: Reporter) -> Self {
        EventRecorder {
            client,
            reporter,
            published: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes `event` about `regarding`: a new Event, or the next of its series.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = story_key(event, regarding);
        let repeat = {
            let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
            published.retain(|_, p| p.last_seen + SERIES_TTL > now);
            published.get(&key).cloned()
        };
        let published = match repeat {
            Some(first) => match self.continue_series(&first, now).await {
                Ok(next) => next,
                // The Event expired or was deleted: the story is told afresh.
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    self.create(event, regarding, now).await?
                }
                Err(e) => return Err(e),
            },
            None => self.create(event, regarding, now).await?,
        };
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, published);
        Ok(())
    }

    async fn continue_series(
        &self,
        first: &Published,
        now: Timestamp,
    ) -> Result<Published, kube::Error> {
        let count = first.count + 1;
        let series = EventSeries {
            count,
            last_observed_time: MicroTime(now),
        };
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &first.namespace);
        let patch = serde_json::json!({ "series": series });
        api.patch(&first.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(Published {
            count,
            last_seen: now,
            ..first.clone()
        })
    }

    async fn create(
        &self,
        event: &Event,
        regarding: &ObjectReference,
        now: Timestamp,
    ) -> Result<Published, kube::Error> {
        let namespace = regarding.namespace.clone().unwrap_or("default".into());
        let object = regarding
            .name
            .as_deref()
            .unwrap_or(&self.reporter.controller);
        let name = format!("{object}.{:x}", now.as_nanosecond());
        let k8s_event = K8sEvent {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: event.note.as_deref().map(bounded_note),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: event.secondary.clone(),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            type_: Some(type_name(event.type_).into()),
            ..K8sEvent::default()
        };
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        api.create(&PostParams::default(), &k8s_event).await?;
        Ok(Published {
            namespace,
            name,
            count: 1,
            last_seen: now,
        })
    }
}

/// `note`, cut to what the API server accepts (a long error from Consul would lose the Event).
fn bounded_note(note: &str) -> String {
    const CUT: &str = "…";
    if note.len() <= MAX_NOTE_BYTES {
        return note.to_owned();
    }
    let mut end = MAX_NOTE_BYTES - CUT.len();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT}", &note[..end])
}

fn type_name(type_: EventType) -> &'static str {
    match type_ {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

fn story_key(event: &Event, regarding: &ObjectReference) -> StoryKey {
    let part = |s: &Option<String>| s.clone().unwrap_or_default();
    StoryKey {
        regarding: [
            part(&regarding.kind),
            part(&regarding.namespace),
            part(&regarding.name),
            part(&regarding.uid),
        ],
        warning: event.type_ == EventType::Warning,
        reason: event.reason.clone(),
        note: event.note.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(reason: &str, note: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some(note.into()),
            action: reason.into(),
            secondary: None,
        }
    }

    #[test]
    fn a_long_note_is_cut_to_what_the_api_server_accepts() {
        assert_eq!(bounded_note("short"), "short");
        let exact = "x".repeat(MAX_NOTE_BYTES);
        assert_eq!(bounded_note(&exact), exact);
        for long in ["y".repeat(5000), "é".repeat(3000)] {
            let cut = bounded_note(&long);
            assert!(cut.len() <= MAX_NOTE_BYTES && cut.len() > MAX_NOTE_BYTES - 8);
            assert!(cut.ends_with('…'));
        }
    }

    #[test]
    fn only_the_same_story_about_the_same_object_is_one_series() {
        let object = ObjectReference {
            kind: Some("PeeringDialer".into()),
            namespace: Some("default".into()),
            name: Some("dc1".into()),
            uid: Some("u1".into()),
            ..ObjectReference::default()
        };
        let first = story_key(&event("Established", "fingerprint aaaa"), &object);
        assert_eq!(
            first,
            story_key(&event("Established", "fingerprint aaaa"), &object)
        );
        assert_ne!(
            first,
            story_key(&event("Established", "fingerprint bbbb"), &object)
        );
        let recreated = ObjectReference {
            uid: Some("u2".into()),
            ..object.clone()
        };
        assert_ne!(
            first,
            story_key(&event("Established", "fingerprint aaaa"), &recreated)
        );
        let mut warning = event("Established", "fingerprint aaaa");
        warning.type_ = EventType::Warning;
        assert_ne!(first, story_key(&warning, &object));
    }
}
