"""Predict: an OpGraph costed and mapped onto a profile, summed into a Prediction (`prediction`),
and rendered as a table or JSON (`report`)."""

from __future__ import annotations

from graphcal.predict.prediction import OpPrediction, Prediction, predict_graph

__all__ = ["OpPrediction", "Prediction", "predict_graph"]
