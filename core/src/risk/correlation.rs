//! Correlation clusters: Pearson correlation of daily close-to-close
//! returns over the last `correlation_lookback_days` common trading days;
//! underlyings correlated at least `correlation_threshold` are joined, and
//! clusters are the connected groups (single linkage: A~B and B~C put A, B
//! and C in one cluster even when A and C are less correlated).
//! A pair with fewer than `correlation_min_overlap` common returns has an
//! unknown correlation, which the cluster check treats as a refusal.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::config::RiskConfig;
use crate::market::Symbol;

/// A daily close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DailyClose {
    pub date: NaiveDate,
    pub close: f64,
}

/// Pearson correlation (sample, any normalization cancels); `None` with
/// fewer than 3 points, unequal lengths, non-finite values or no variance.
#[must_use]
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 3 || n != y.len() || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    let d = (sxx * syy).sqrt();
    (d > 0.0).then(|| (sxy / d).clamp(-1.0, 1.0))
}

/// Returns of the two series on their common dates: the last `lookback`
/// returns between consecutive common closes.
fn common_returns(a: &[DailyClose], b: &[DailyClose], lookback: usize) -> (Vec<f64>, Vec<f64>) {
    let bm: BTreeMap<NaiveDate, f64> = b.iter().map(|c| (c.date, c.close)).collect();
    let mut am: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    for c in a {
        am.insert(c.date, c.close);
    }
    let common: Vec<(f64, f64)> = am
        .iter()
        .filter_map(|(d, ca)| bm.get(d).map(|cb| (*ca, *cb)))
        .collect();
    let mut ra = Vec::new();
    let mut rb = Vec::new();
    for w in common.windows(2) {
        let (a0, b0) = w[0];
        let (a1, b1) = w[1];
        if a0 > 0.0 && b0 > 0.0 {
            ra.push(a1 / a0 - 1.0);
            rb.push(b1 / b0 - 1.0);
        }
    }
    let skip = ra.len().saturating_sub(lookback);
    (ra.split_off(skip), rb.split_off(skip))
}

/// Correlations and clusters of a set of underlyings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clusters {
    /// Each symbol's cluster id (the smallest symbol of its cluster).
    pub cluster_of: BTreeMap<Symbol, Symbol>,
    /// Known pairwise correlations (a < b).
    pub correlations: Vec<(Symbol, Symbol, f64)>,
    /// Pairs whose correlation is unknown (too little common history).
    pub unknown_pairs: Vec<(Symbol, Symbol)>,
}

impl Clusters {
    /// Members of `symbol`'s cluster (just itself when unknown to the set).
    #[must_use]
    pub fn members(&self, symbol: &Symbol) -> Vec<Symbol> {
        match self.cluster_of.get(symbol) {
            Some(id) => self
                .cluster_of
                .iter()
                .filter(|(_, c)| *c == id)
                .map(|(s, _)| s.clone())
                .collect(),
            None => vec![symbol.clone()],
        }
    }

    #[must_use]
    pub fn is_unknown(&self, a: &Symbol, b: &Symbol) -> bool {
        a != b
            && (!self.cluster_of.contains_key(a)
                || !self.cluster_of.contains_key(b)
                || self
                    .unknown_pairs
                    .iter()
                    .any(|(x, y)| (x == a && y == b) || (x == b && y == a)))
    }
}

/// Clusters `closes` (per underlying, any order) by return correlation.
#[must_use]
pub fn correlation_clusters(
    closes: &BTreeMap<Symbol, Vec<DailyClose>>,
    cfg: &RiskConfig,
) -> Clusters {
    let symbols: Vec<&Symbol> = closes.keys().collect();
    let mut parent: Vec<usize> = (0..symbols.len()).collect();
    fn find(p: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while p[r] != r {
            r = p[r];
        }
        p[i] = r;
        r
    }
    let mut correlations = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..symbols.len() {
        for j in i + 1..symbols.len() {
            let (ra, rb) = common_returns(
                &closes[symbols[i]],
                &closes[symbols[j]],
                cfg.correlation_lookback_days,
            );
            let rho = if ra.len() >= cfg.correlation_min_overlap {
                pearson(&ra, &rb)
            } else {
                None
            };
            match rho {
                Some(r) => {
                    correlations.push((symbols[i].clone(), symbols[j].clone(), r));
                    if r >= cfg.correlation_threshold {
                        let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                        let (lo, hi) = (a.min(b), a.max(b));
                        parent[hi] = lo;
                    }
                }
                None => unknown.push((symbols[i].clone(), symbols[j].clone())),
            }
        }
    }
    let cluster_of = (0..symbols.len())
        .map(|i| (symbols[i].clone(), symbols[find(&mut parent, i)].clone()))
        .collect();
    Clusters {
        cluster_of,
        correlations,
        unknown_pairs: unknown,
    }
}
