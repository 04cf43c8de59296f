"""Fit a profile's coefficients to sweep timings.

    params.py     the fitted parameters: named, bounded, and their solver vector (one place)
    model.py      costed sweep rows and their predicted latency, vectorised (== predict_graph)
    solver.py     scipy.optimize.least_squares on log residuals, standard errors
    calibrate.py  the pipeline: rows -> identifiable parameters -> split -> fit -> refit
    write.py      the fitted profile: extends the base, provenance, atomic write
    report.py     tables, JSON and the plot

Nothing is imported here, so `graphcal --help` stays free of numpy and scipy.
"""
