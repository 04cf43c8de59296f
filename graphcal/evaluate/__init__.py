"""Evaluate: predictions beside measurements, below fit (fit uses it; it never uses fit).

- `costing`: sweep rows read, costed once per workload, and evaluated on a profile;
- `metrics`: relative errors, MAPE, within ±10%, RMSPE and breakdowns;
- `compare`: `graphcal compare SWEEP.csv --hw PROFILE`;
- `report`: the comparison's tables and the predicted-against-measured plot.
"""
