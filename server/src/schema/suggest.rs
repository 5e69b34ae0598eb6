//! "Did you mean" suggestions.

/// Levenshtein distance (optimal string alignment: a swap of two neighbours costs 1, so
/// `contaienrs` is one step from `containers`).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// The candidates closest to `word`, best first: a case-insensitive match, then candidates within
/// an edit distance that grows with the word's length.
pub fn suggest<'a, I>(word: &str, candidates: I, max: usize) -> Vec<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|c| {
            if c.to_lowercase() == lower {
                return Some((0, c));
            }
            let d = edit_distance(&lower, &c.to_lowercase());
            (d <= limit).then_some((d, c))
        })
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(max).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word() {
        assert_eq!(edit_distance("contaienrs", "containers"), 1);
        assert_eq!(
            suggest("contaienrs", ["containers", "initContainers", "volumes"], 3),
            vec!["containers"]
        );
        assert_eq!(
            suggest("Deploymnet", ["Deployment", "DaemonSet"], 3),
            vec!["Deployment"]
        );
        assert_eq!(
            suggest("imagepullpolicy", ["imagePullPolicy"], 3),
            vec!["imagePullPolicy"]
        );
        assert!(suggest("xyz", ["containers"], 3).is_empty());
    }
}
