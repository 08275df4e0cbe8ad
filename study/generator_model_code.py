"""The model file MLflow runs to load a trial's generator ("models from code": nothing is
pickled); the class lives in `study.generator_model`."""

import mlflow

from study.generator_model import GeneratorModel

mlflow.models.set_model(GeneratorModel())
