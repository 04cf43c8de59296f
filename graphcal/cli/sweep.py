"""`graphcal sweep`: filled in by the sweep work (issue 3)."""
