//! Injected faults and request counters, the hooks reliability tests and benchmarks use.

use std::collections::BTreeMap;

/// Faults that are armed until used up.
#[derive(Debug, Default)]
pub struct Faults {
    /// The next N writes fail with this HTTP code (409 or 500).
    fail_writes: Option<(u32, u16)>,
    /// The next N requests get 429 with this Retry-After.
    throttle: Option<(u32, u64)>,
}

impl Faults {
    pub fn fail_writes(&mut self, count: u32, code: u16) {
        self.fail_writes = (count > 0).then_some((count, code));
    }

    pub fn throttle(&mut self, count: u32, retry_after_seconds: u64) {
        self.throttle = (count > 0).then_some((count, retry_after_seconds));
    }

    pub fn clear(&mut self) {
        *self = Faults::default();
    }

    /// Consumes one injected write failure, if armed.
    pub fn take_write_failure(&mut self) -> Option<u16> {
        take(&mut self.fail_writes)
    }

    /// Consumes one injected 429, if armed.
    pub fn take_throttle(&mut self) -> Option<u64> {
        take(&mut self.throttle)
    }
}

fn take<T: Copy>(slot: &mut Option<(u32, T)>) -> Option<T> {
    let (left, value) = (*slot)?;
    *slot = (left > 1).then_some((left - 1, value));
    Some(value)
}

/// One counted request class.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct RequestKey {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// `<plural>.<group>` (core: the plural), with `/subresource` when one was addressed.
    pub resource: String,
    pub user: String,
}

#[derive(Debug, Default)]
pub struct Counters {
    counts: BTreeMap<RequestKey, u64>,
}

impl Counters {
    pub fn add(&mut self, key: RequestKey) {
        *self.counts.entry(key).or_default() += 1;
    }

    pub fn snapshot(&self) -> Vec<(RequestKey, u64)> {
        self.counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    pub fn reset(&mut self) {
        self.counts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_up() {
        let mut f = Faults::default();
        f.fail_writes(2, 500);
        assert_eq!(f.take_write_failure(), Some(500));
        assert_eq!(f.take_write_failure(), Some(500));
        assert_eq!(f.take_write_failure(), None);
        f.throttle(1, 3);
        assert_eq!(f.take_throttle(), Some(3));
        assert_eq!(f.take_throttle(), None);
    }
}
