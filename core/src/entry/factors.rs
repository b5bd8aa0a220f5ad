//! How the factor inputs of one symbol are assembled before scoring and
//! ranking ([`crate::score::score_opportunity`], [`crate::score::rank`]).

use crate::score::FactorInputs;

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// Combines the chain step's factors (daily bars: realized vol, volume
/// z-score, IV rank) with the intraday ones (quote snapshots): realized vol
/// and volume z-score from the chain step, range, volume ratio and momentum
/// from the intraday snapshots (each falling back to the other source).
pub fn combine_factors(chain: Option<&FactorInputs>, intraday: &FactorInputs) -> FactorInputs {
    let c = chain.copied().unwrap_or_default();
    FactorInputs {
        realized_vol: finite(c.realized_vol).or(finite(intraday.realized_vol)),
        range_pct: finite(intraday.range_pct).or(finite(c.range_pct)),
        volume_ratio: finite(intraday.volume_ratio),
        volume_zscore: finite(c.volume_zscore),
        momentum_pct: finite(intraday.momentum_pct).or(finite(c.momentum_pct)),
        iv_rank: finite(c.iv_rank),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_factor_comes_from_its_source_then_the_other() {
        let chain = FactorInputs {
            realized_vol: Some(0.2),
            range_pct: Some(1.0),
            volume_zscore: Some(f64::NAN),
            iv_rank: Some(50.0),
            ..FactorInputs::default()
        };
        let intraday = FactorInputs {
            realized_vol: Some(0.3),
            momentum_pct: Some(0.5),
            ..FactorInputs::default()
        };
        let f = combine_factors(Some(&chain), &intraday);
        assert_eq!(f.realized_vol, Some(0.2));
        assert_eq!(f.range_pct, Some(1.0));
        assert_eq!(f.volume_zscore, None);
        assert_eq!(f.momentum_pct, Some(0.5));
        assert_eq!(f.iv_rank, Some(50.0));
        assert_eq!(combine_factors(None, &intraday).realized_vol, Some(0.3));
    }
}
