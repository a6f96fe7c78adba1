//! The cluster's alarms (NOSPACE, CORRUPT) as one record in the meta
//! database, with etcd's alarm store rules: one alarm per (member, type),
//! activating one already active or deactivating one not active changes
//! nothing and answers no alarm.

use prost::Message;

use super::{StorageError, StorageResult};
use crate::proto::etcdserverpb::{AlarmMember, AlarmType};
use crate::proto::oxcdstore::AlarmState;

/// Where the record lives in the meta database.
pub const ALARM_META_KEY: &str = "alarms";

pub fn encode(state: &AlarmState) -> Vec<u8> {
    state.encode_to_vec()
}

/// The stored record; an absent one is no alarm at all.
pub fn decode(bytes: Option<Vec<u8>>) -> StorageResult<AlarmState> {
    match bytes {
        None => Ok(AlarmState::default()),
        Some(bytes) => AlarmState::decode(bytes.as_slice())
            .map_err(|err| StorageError::Corrupt(format!("alarm record: {err}"))),
    }
}

/// Alarms of type `kind`, or every alarm for `AlarmType::None`.
pub fn get(state: &AlarmState, kind: i32) -> Vec<AlarmMember> {
    state
        .alarms
        .iter()
        .filter(|a| kind == AlarmType::None as i32 || a.alarm == kind)
        .cloned()
        .collect()
}

/// Whether any member has an alarm of `kind` active.
pub fn any_of(state: &AlarmState, kind: AlarmType) -> bool {
    state.alarms.iter().any(|a| a.alarm == kind as i32)
}

/// Adds the alarm; `None` if it was already active.
pub fn activate(state: &mut AlarmState, member: u64, kind: i32) -> Option<AlarmMember> {
    let alarm = AlarmMember {
        member_id: member,
        alarm: kind,
    };
    match state
        .alarms
        .binary_search_by(|a| order(a).cmp(&order(&alarm)))
    {
        Ok(_) => None,
        Err(at) => {
            state.alarms.insert(at, alarm);
            Some(alarm)
        }
    }
}

/// Removes the alarm; `None` if it was not active.
pub fn deactivate(state: &mut AlarmState, member: u64, kind: i32) -> Option<AlarmMember> {
    let alarm = AlarmMember {
        member_id: member,
        alarm: kind,
    };
    let at = state
        .alarms
        .binary_search_by(|a| order(a).cmp(&order(&alarm)))
        .ok()?;
    Some(state.alarms.remove(at))
}

fn order(a: &AlarmMember) -> (u64, i32) {
    (a.member_id, a.alarm)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOSPACE: i32 = AlarmType::Nospace as i32;
    const CORRUPT: i32 = AlarmType::Corrupt as i32;

    #[test]
    fn activate_once_deactivate_once() {
        let mut s = AlarmState::default();
        assert!(activate(&mut s, 7, NOSPACE).is_some());
        assert!(activate(&mut s, 7, NOSPACE).is_none(), "already active");
        assert!(activate(&mut s, 3, NOSPACE).is_some());
        assert!(activate(&mut s, 3, CORRUPT).is_some());
        assert_eq!(get(&s, AlarmType::None as i32).len(), 3);
        assert_eq!(get(&s, NOSPACE).len(), 2);
        assert!(any_of(&s, AlarmType::Corrupt));
        assert_eq!(deactivate(&mut s, 3, CORRUPT).map(|a| a.member_id), Some(3));
        assert!(deactivate(&mut s, 3, CORRUPT).is_none(), "not active");
        assert!(!any_of(&s, AlarmType::Corrupt));
        assert!(deactivate(&mut s, 99, NOSPACE).is_none(), "unknown member");
    }

    #[test]
    fn record_round_trips_and_absent_is_empty() {
        let mut s = AlarmState::default();
        activate(&mut s, 1, NOSPACE);
        assert_eq!(decode(Some(encode(&s))).unwrap(), s);
        assert_eq!(decode(None).unwrap(), AlarmState::default());
        assert!(decode(Some(vec![0xff, 0xff])).is_err());
    }
}
