"""graphcal: predict how fast a PyTorch model runs on a CPU, and calibrate the prediction.

The public Python API is `__all__`; it imports torch only when a call needs it.
"""

import sys
import types

from graphcal.api import load_profile, measure, predict, predict_llm
from graphcal.errors import CheckFailed, GraphcalError

__version__ = "0.2.0"

__all__ = [
    "CheckFailed",
    "GraphcalError",
    "__version__",
    "load_profile",
    "measure",
    "predict",
    "predict_llm",
]


class _Package(types.ModuleType):
    """graphcal.predict is the function; importing the stage package of the same name
    (graphcal/predict/) must not rebind the attribute to the package."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in __all__ and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
