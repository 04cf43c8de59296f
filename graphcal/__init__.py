"""graphcal: predict how fast a PyTorch model runs on a CPU, and calibrate the prediction."""

__version__ = "0.2.0"
