"""The MLflow model's code (MLflow "models from code"): the file MLflow runs to build it.

Logging a file instead of a Python object keeps MLflow from pickling the wrapper with
cloudpickle; the fitted ScoringModel travels as the ``scoring_model`` artifact. MLflow
executes this file when it loads the model, which is why it does its work at import.
"""

from mlflow.models import set_model

from training.pyfunc import ScoringModelPyfunc

set_model(ScoringModelPyfunc())
