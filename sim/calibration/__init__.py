"""Calibration: MAP fits of parameters to historical data by gradient descent through ``simulate``,
Laplace posteriors, backtests, gradient checks and the validation report (docs/CALIBRATION.md).

    from sim.calibration import calibrate
    result = calibrate("aifm_eli", ["software_rnd.present_doubling_time", ...])
    result.table()            # fitted values, spreads (Laplace), priors
"""

from sim.calibration.data import DataError, load_observations, read_observations
from sim.calibration.fit import (
    FitError,
    FitResult,
    Problem,
    backtest_summary,
    calibrate,
    fit,
    predictions,
    setup,
)
from sim.calibration.scenario_file import write_scenario

__all__ = ["DataError", "FitError", "FitResult", "Problem", "backtest_summary", "calibrate", "fit",
           "load_observations", "predictions", "read_observations", "setup", "write_scenario"]
