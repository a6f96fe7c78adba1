//! Splits a large Watch response for a watcher created with `fragment`, as
//! etcd does: responses under `--max-request-bytes` (or with one event) go
//! whole; otherwise events are packed into parts each under the limit (a
//! part always holds at least one event), all but the last marked
//! `fragment: true`.

use prost::Message as _;

use crate::proto::etcdserverpb::WatchResponse;

pub fn fragments(response: WatchResponse, max_bytes: usize) -> Vec<WatchResponse> {
    if response.encoded_len() < max_bytes || response.events.len() < 2 {
        return vec![response];
    }
    let mut template = response.clone();
    template.events = Vec::new();
    template.fragment = true;
    let mut parts = Vec::new();
    let mut current = template.clone();
    for event in response.events {
        current.events.push(event);
        if current.events.len() > 1 && current.encoded_len() >= max_bytes {
            let overflow = current.events.pop();
            parts.push(std::mem::replace(&mut current, template.clone()));
            current.events.extend(overflow);
        }
    }
    current.fragment = false;
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mvccpb::{Event, KeyValue};

    fn event(size: usize) -> Event {
        Event {
            kv: Some(KeyValue {
                key: b"k".to_vec(),
                value: vec![b'x'; size],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn response(events: Vec<Event>) -> WatchResponse {
        WatchResponse {
            watch_id: 3,
            events,
            ..Default::default()
        }
    }

    #[test]
    fn small_or_single_event_responses_stay_whole() {
        assert_eq!(
            fragments(response(vec![event(10), event(10)]), 1000).len(),
            1
        );
        let single = fragments(response(vec![event(5000)]), 1000);
        assert_eq!(single.len(), 1);
        assert!(!single[0].fragment);
    }

    #[test]
    fn large_responses_split_under_the_limit() {
        let events: Vec<Event> = (0..10).map(|_| event(300)).collect();
        let parts = fragments(response(events), 1000);
        assert!(parts.len() > 1);
        let total: usize = parts.iter().map(|p| p.events.len()).sum();
        assert_eq!(total, 10);
        let (last, rest) = parts.split_last().expect("parts");
        assert!(!last.fragment);
        for part in rest {
            assert!(part.fragment);
            assert!(part.encoded_len() < 1000);
            assert_eq!(part.watch_id, 3);
        }
    }
}
