"""Fit a profile's coefficients to sweep timings (above graphcal.evaluate, which it uses).

    params.py      the fitted parameters: named, bounded, and their solver vector (one place)
    model.py       costed rows' predicted latency for parameter values (evaluate_profile, == predict_graph)
    solver.py      scipy.optimize.least_squares on log residuals, standard errors
    calibrate.py   the pipeline: rows -> identifiable parameters -> split -> fit -> refit
    provenance.py  the fitted profile document: extends the base, provenance (written by hardware.write)
    report.py      tables, JSON and the plot

Nothing is imported here, so `graphcal --help` stays free of numpy and scipy.
"""
