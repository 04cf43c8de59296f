"""`graphcal fit`: filled in by the fit work (issue 4)."""
