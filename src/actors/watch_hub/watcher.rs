//! One registered watcher: its key range (etcd's range semantics), filters
//! and how far it has been sent; plus the helpers that pick and group events.

use super::outbox::Outbox;

use crate::proto::etcdserverpb::watch_create_request::FilterType;

use crate::proto::mvccpb::{event::EventType, Event};

/// Most revisions one catch-up response carries (etcd: watchBatchMaxRevs).
pub const MAX_REVS_PER_RESPONSE: usize = 1000;

/// Which keys a watcher sees.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyRange {
    /// Exactly this key.
    One(Vec<u8>),
    /// Every key >= this one.
    From(Vec<u8>),
    /// `[start, end)`.
    Between(Vec<u8>, Vec<u8>),
}

impl KeyRange {
    /// etcd's watch request rules: empty key is `\0`, empty end is one key,
    /// end `\0` is "from key". `None` for an empty range (key >= end).
    pub fn from_request(key: &[u8], end: &[u8]) -> Option<KeyRange> {
        let key = if key.is_empty() {
            vec![0]
        } else {
            key.to_vec()
        };
        match end {
            [] => Some(KeyRange::One(key)),
            [0] => Some(KeyRange::From(key)),
            end if key.as_slice() < end => Some(KeyRange::Between(key, end.to_vec())),
            _ => None,
        }
    }

    pub fn contains(&self, k: &[u8]) -> bool {
        match self {
            KeyRange::One(key) => k == key.as_slice(),
            KeyRange::From(key) => k >= key.as_slice(),
            KeyRange::Between(key, end) => k >= key.as_slice() && k < end.as_slice(),
        }
    }
}

/// What a client asked for (already checked).
pub struct WatchSpec {
    pub range: KeyRange,
    pub filters: Vec<i32>,
    pub prev_kv: bool,
    pub progress_notify: bool,
    pub fragment: bool,
    pub tx: Outbox,
}

pub struct Watcher {
    pub id: i64,
    pub range: KeyRange,
    pub no_put: bool,
    pub no_delete: bool,
    pub prev_kv: bool,
    pub fragment: bool,
    /// Wants an empty response on quiet progress ticks.
    pub progress_notify: bool,
    /// Sent events since the last progress tick.
    pub sent_since_tick: bool,
    /// The first revision not yet sent.
    pub next_rev: i64,
    /// Up to date with the hub: gets events as batches are applied.
    pub synced: bool,
    /// Not yet announced to the client (its `created` response is on the way).
    pub active: bool,
    pub tx: Outbox,
}

impl Watcher {
    pub fn new(id: i64, spec: WatchSpec, start_rev: i64) -> Self {
        let has = |f: FilterType| spec.filters.contains(&(f as i32));
        Watcher {
            id,
            no_put: has(FilterType::Noput),
            no_delete: has(FilterType::Nodelete),
            prev_kv: spec.prev_kv,
            progress_notify: spec.progress_notify,
            fragment: spec.fragment,
            sent_since_tick: false,
            range: spec.range,
            next_rev: start_rev,
            synced: false,
            active: false,
            tx: spec.tx,
        }
    }

    /// Does this watcher want `event`?
    pub fn wants(&self, event: &Event) -> bool {
        let Some(kv) = event.kv.as_ref() else {
            return false;
        };
        if kv.mod_revision < self.next_rev || !self.range.contains(&kv.key) {
            return false;
        }
        let is_put = event.r#type == EventType::Put as i32;
        !(is_put && self.no_put || !is_put && self.no_delete)
    }
}

pub fn event_rev(event: &Event) -> i64 {
    event
        .kv
        .as_ref()
        .map(|kv| kv.mod_revision)
        .unwrap_or_default()
}

/// Splits revision-ordered events into runs of at most `max_revs` revisions
/// and, where revisions allow, about `max_bytes` of keys and values; one
/// revision's events always stay together, however large.
pub fn chunk_by_revisions(
    events: Vec<Event>,
    max_revs: usize,
    max_bytes: usize,
) -> Vec<Vec<Event>> {
    let mut chunks: Vec<Vec<Event>> = Vec::new();
    let mut current: Vec<Event> = Vec::new();
    let (mut revs, mut bytes) = (0usize, 0usize);
    let mut last_rev = None;
    for event in events {
        let rev = event_rev(&event);
        if last_rev != Some(rev) {
            if revs == max_revs || (revs > 0 && bytes >= max_bytes) {
                chunks.push(std::mem::take(&mut current));
                (revs, bytes) = (0, 0);
            }
            revs += 1;
            last_rev = Some(rev);
        }
        bytes += event
            .kv
            .as_ref()
            .map(|kv| kv.key.len() + kv.value.len())
            .unwrap_or_default();
        current.push(event);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mvccpb::KeyValue;

    fn put(key: &str, rev: i64) -> Event {
        Event {
            r#type: EventType::Put as i32,
            kv: Some(KeyValue {
                key: key.as_bytes().to_vec(),
                mod_revision: rev,
                ..Default::default()
            }),
            prev_kv: None,
        }
    }

    #[test]
    fn ranges_follow_etcd() {
        assert_eq!(
            KeyRange::from_request(b"a", b""),
            Some(KeyRange::One(b"a".to_vec()))
        );
        assert_eq!(
            KeyRange::from_request(b"", b"\0"),
            Some(KeyRange::From(vec![0]))
        );
        assert_eq!(KeyRange::from_request(b"b", b"a"), None);
        assert_eq!(KeyRange::from_request(b"a", b"a"), None);
        let r = KeyRange::from_request(b"a", b"c").expect("range");
        assert!(r.contains(b"a") && r.contains(b"bz") && !r.contains(b"c"));
        assert!(KeyRange::From(b"b".to_vec()).contains(b"zz"));
        assert!(!KeyRange::One(b"a".to_vec()).contains(b"ab"));
    }

    #[test]
    fn filters_and_start_revision() {
        let (tx, _rx) = super::super::outbox::outbox(1, 1);
        let spec = WatchSpec {
            range: KeyRange::From(vec![0]),
            filters: vec![0],
            prev_kv: false,
            progress_notify: false,
            fragment: false,
            tx,
        };
        let mut w = Watcher::new(0, spec, 5);
        assert!(!w.wants(&put("a", 6)));
        w.no_put = false;
        assert!(!w.wants(&put("a", 4)));
        assert!(w.wants(&put("a", 5)));
    }

    #[test]
    fn chunks_keep_revisions_whole() {
        let events = vec![put("a", 1), put("b", 1), put("a", 2), put("a", 3)];
        let chunks = chunk_by_revisions(events.clone(), 2, usize::MAX);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].len(), 3);
        assert_eq!(chunks[1].len(), 1);
        // A byte limit cuts between revisions, never inside one.
        let chunks = chunk_by_revisions(events, 1000, 1);
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 1, 1]);
    }
}
