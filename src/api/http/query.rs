//! The few query parameters the health endpoints read.

/// Every value of `name` in the query (`?exclude=a&exclude=b`), empty ones
/// skipped, as etcd reads them.
pub fn values<'a>(query: Option<&'a str>, name: &str) -> Vec<&'a str> {
    pairs(query)
        .filter(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
        .collect()
}

/// The first value of `name`, if the parameter is there at all.
pub fn first<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    pairs(query).find(|(k, _)| *k == name).map(|(_, v)| v)
}

fn pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_repeated_flags_and_bare_names() {
        let q = Some("exclude=NOSPACE&exclude=&verbose&serializable=true");
        assert_eq!(values(q, "exclude"), ["NOSPACE"]);
        assert_eq!(first(q, "verbose"), Some(""));
        assert_eq!(first(q, "serializable"), Some("true"));
        assert_eq!(first(None, "verbose"), None);
    }
}
