//! "Did you mean …?": the closest candidate to a misspelt key, value or
//! variable name.
//!
//! Invariants: comparison ignores ASCII case; a suggestion is made only
//! when it is close enough to be a likely typo (at most one edit per
//! three characters, at least one), and never for an exact match.

/// The edit distance between `a` and `b` (insertions, deletions,
/// substitutions and swaps of neighbours), ignoring ASCII case.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Three rows of the optimal-string-alignment table.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `given`, if it is a likely typo of it.
pub fn closest<'a, I>(given: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let budget = (given.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| !c.eq_ignore_ascii_case(given))
        .map(|c| (distance(given, c), c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("prod", "production"), 6);
        assert_eq!(distance("prodution", "production"), 1);
        assert_eq!(distance("hearbteat", "heartbeat"), 1);
        assert_eq!(distance("PORT", "port"), 0);
    }

    #[test]
    fn suggests_only_likely_typos() {
        let keys = ["heartbeat_interval", "heartbeat_timeout", "port"];
        assert_eq!(
            closest("heartbeat_intervall", keys),
            Some("heartbeat_interval")
        );
        assert_eq!(closest("prot", keys), Some("port"));
        assert_eq!(closest("colour", keys), None);
        assert_eq!(closest("port", keys), None);
    }
}
