"""TRM and HRM as transformers models: configs, models, `solve`, and the puzzle processor.

Importing the package registers the classes with the Auto API (``AutoConfig``, ``AutoModel``,
``AutoProcessor``) and marks them for ``auto_map`` on ``save_pretrained``, so a saved folder or Hub
repo also loads with ``trust_remote_code=True`` where this package is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoProcessor
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_trm import HRMConfig, TRMConfig
from .modeling_hrm import HRMForPuzzleSolving
from .modeling_trm import TRMForPuzzleSolving, TRMOutput, TRMState
from .pipeline_trm import PIPELINE_TASK, PuzzleSolvingPipeline
from .processing_trm import PuzzleProcessor
from .solving_trm import SolveConfig, SolveOutput, SolveStep

for _config_class, _model_class in ((TRMConfig, TRMForPuzzleSolving), (HRMConfig, HRMForPuzzleSolving)):
    AutoConfig.register(_config_class.model_type, _config_class, exist_ok=True)
    AutoModel.register(_config_class, _model_class, exist_ok=True)
    AutoProcessor.register(_config_class, PuzzleProcessor, exist_ok=True)
    _config_class.register_for_auto_class()
    _model_class.register_for_auto_class("AutoModel")
PuzzleProcessor.register_for_auto_class()
# `pipeline("puzzle-solving", model=TRM or HRM)` in this process; saved folders name the same pipeline in
# config.json (`custom_pipelines`), which is what `trust_remote_code` loading reads.
PIPELINE_REGISTRY.register_pipeline(PIPELINE_TASK, pipeline_class=PuzzleSolvingPipeline, pt_model=AutoModel,
                                    type="text")

__all__ = [
    "HRMConfig",
    "HRMForPuzzleSolving",
    "PuzzleProcessor",
    "PuzzleSolvingPipeline",
    "SolveConfig",
    "SolveOutput",
    "SolveStep",
    "TRMConfig",
    "TRMForPuzzleSolving",
    "TRMOutput",
    "TRMState",
]
