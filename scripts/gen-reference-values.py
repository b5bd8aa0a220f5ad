#!/usr/bin/env python3
"""Generate core/tests/fixtures/bsm_reference.json: Black-Scholes-Merton prices
and greeks from QuantLib's AnalyticEuropeanEngine, the independent reference
the `reference_values` test of sas-core compares against.

    pip install QuantLib        # PyPI wheel; nothing else is needed
    python3 scripts/gen-reference-values.py [--cases 400] [--seed 20261121]

Conventions of the file (QuantLib's own units, converted by the test):
  t_years        = days / 365 exactly (Actual/365 Fixed, integer days)
  rate, div_yield continuously compounded
  theta_per_year d(value)/d(calendar time), per year (QuantLib theta())
  vega           per 1.00 of volatility (QuantLib vega())
  rho            per 1.00 of rate (QuantLib rho())
"""

import argparse
import json
import math
import random
import sys
from pathlib import Path

import QuantLib as ql

OUT = Path(__file__).resolve().parent.parent / "core/tests/fixtures/bsm_reference.json"


def case(rng: random.Random, i: int) -> dict:
    spot = round(10 * 100 ** rng.random(), 4)  # 10 .. 1000, log-uniform
    # a few deliberately extreme rows, then the bulk
    if i % 10 == 0:
        moneyness = rng.choice([0.5, 0.6, 1.4, 1.5])
    else:
        moneyness = rng.uniform(0.7, 1.3)
    strike = round(spot * moneyness, 2)
    days = rng.choice([1, 2, 7, 14, 30, 45, 60, 90, 180, 365, 730]) if i % 3 == 0 else rng.randint(1, 730)
    return {
        "spot": spot,
        "strike": strike,
        "days": days,
        "t_years": days / 365.0,
        "rate": round(rng.uniform(-0.005, 0.08), 5),
        "div_yield": round(rng.uniform(0.0, 0.05), 5) if i % 4 else 0.0,
        "vol": round(rng.uniform(0.05, 2.0), 4),
        "right": "C" if i % 2 == 0 else "P",
    }


def quantlib_values(c: dict) -> dict:
    today = ql.Date(2, 1, 2026)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    cal = ql.NullCalendar()
    spot = ql.QuoteHandle(ql.SimpleQuote(c["spot"]))
    rate = ql.YieldTermStructureHandle(ql.FlatForward(today, c["rate"], dc, ql.Continuous))
    div = ql.YieldTermStructureHandle(ql.FlatForward(today, c["div_yield"], dc, ql.Continuous))
    vol = ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, cal, c["vol"], dc))
    process = ql.BlackScholesMertonProcess(spot, div, rate, vol)
    option_type = ql.Option.Call if c["right"] == "C" else ql.Option.Put
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(option_type, c["strike"]),
        ql.EuropeanExercise(today + c["days"]),
    )
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    return {
        "price": option.NPV(),
        "delta": option.delta(),
        "gamma": option.gamma(),
        "theta_per_year": option.theta(),
        "vega": option.vega(),
        "rho": option.rho(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=400)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows = []
    for i in range(args.cases):
        c = case(rng, i)
        c.update(quantlib_values(c))
        if not all(math.isfinite(v) for v in c.values() if isinstance(v, float)):
            continue
        rows.append(c)
    doc = {
        "generator": "scripts/gen-reference-values.py",
        "quantlib_version": ql.__version__,
        "engine": "AnalyticEuropeanEngine, BlackScholesMertonProcess, FlatForward continuous, Actual365Fixed",
        "seed": args.seed,
        "units": {
            "theta_per_year": "per year of calendar time",
            "vega": "per 1.00 volatility",
            "rho": "per 1.00 rate",
        },
        "cases": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(rows)} cases to {args.out} (QuantLib {ql.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
