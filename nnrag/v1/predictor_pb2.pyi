from nnrag.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CurvePoint(_message.Message):
    __slots__ = ("epoch", "accuracy", "elapsed_ms")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    accuracy: float
    elapsed_ms: float
    def __init__(self, epoch: _Optional[int] = ..., accuracy: _Optional[float] = ..., elapsed_ms: _Optional[float] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("run_id", "code", "hparams_json", "dataset", "task", "curve", "max_epochs")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    HPARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    CURVE_FIELD_NUMBER: _ClassVar[int]
    MAX_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    code: str
    hparams_json: str
    dataset: str
    task: str
    curve: _containers.RepeatedCompositeFieldContainer[CurvePoint]
    max_epochs: int
    def __init__(self, run_id: _Optional[str] = ..., code: _Optional[str] = ..., hparams_json: _Optional[str] = ..., dataset: _Optional[str] = ..., task: _Optional[str] = ..., curve: _Optional[_Iterable[_Union[CurvePoint, _Mapping]]] = ..., max_epochs: _Optional[int] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("code", "hparams_json", "dataset", "curve", "target_epoch", "model", "target")
    CODE_FIELD_NUMBER: _ClassVar[int]
    HPARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CURVE_FIELD_NUMBER: _ClassVar[int]
    TARGET_EPOCH_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    code: str
    hparams_json: str
    dataset: str
    curve: _containers.RepeatedCompositeFieldContainer[CurvePoint]
    target_epoch: int
    model: str
    target: str
    def __init__(self, code: _Optional[str] = ..., hparams_json: _Optional[str] = ..., dataset: _Optional[str] = ..., curve: _Optional[_Iterable[_Union[CurvePoint, _Mapping]]] = ..., target_epoch: _Optional[int] = ..., model: _Optional[str] = ..., target: _Optional[str] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("accuracy", "lower", "upper", "interval_level", "method", "observed_epochs", "epochs", "target", "reported_runs", "ignored_hparams", "model_ran", "versions")
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_LEVEL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    REPORTED_RUNS_FIELD_NUMBER: _ClassVar[int]
    IGNORED_HPARAMS_FIELD_NUMBER: _ClassVar[int]
    MODEL_RAN_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    accuracy: float
    lower: float
    upper: float
    interval_level: float
    method: str
    observed_epochs: int
    epochs: int
    target: str
    reported_runs: int
    ignored_hparams: _containers.RepeatedScalarFieldContainer[str]
    model_ran: bool
    versions: _common_pb2.Versions
    def __init__(self, accuracy: _Optional[float] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ..., interval_level: _Optional[float] = ..., method: _Optional[str] = ..., observed_epochs: _Optional[int] = ..., epochs: _Optional[int] = ..., target: _Optional[str] = ..., reported_runs: _Optional[int] = ..., ignored_hparams: _Optional[_Iterable[str]] = ..., model_ran: _Optional[bool] = ..., versions: _Optional[_Union[_common_pb2.Versions, _Mapping]] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("max_epochs",)
    MAX_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    max_epochs: int
    def __init__(self, max_epochs: _Optional[int] = ...) -> None: ...

class ShouldStopRequest(_message.Message):
    __slots__ = ("run", "incumbent_accuracy", "finished_accuracies", "budget", "earlier_runs", "study_runs")
    RUN_FIELD_NUMBER: _ClassVar[int]
    INCUMBENT_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    FINISHED_ACCURACIES_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    EARLIER_RUNS_FIELD_NUMBER: _ClassVar[int]
    STUDY_RUNS_FIELD_NUMBER: _ClassVar[int]
    run: Run
    incumbent_accuracy: float
    finished_accuracies: _containers.RepeatedScalarFieldContainer[float]
    budget: Budget
    earlier_runs: _containers.RepeatedCompositeFieldContainer[Run]
    study_runs: int
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ..., incumbent_accuracy: _Optional[float] = ..., finished_accuracies: _Optional[_Iterable[float]] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., earlier_runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ..., study_runs: _Optional[int] = ...) -> None: ...

class ShouldStopResponse(_message.Message):
    __slots__ = ("stop", "reason", "predicted_accuracy", "probability_beats_incumbent", "saved_ms", "lower", "upper", "versions")
    STOP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_BEATS_INCUMBENT_FIELD_NUMBER: _ClassVar[int]
    SAVED_MS_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    stop: bool
    reason: str
    predicted_accuracy: float
    probability_beats_incumbent: float
    saved_ms: float
    lower: float
    upper: float
    versions: _common_pb2.Versions
    def __init__(self, stop: _Optional[bool] = ..., reason: _Optional[str] = ..., predicted_accuracy: _Optional[float] = ..., probability_beats_incumbent: _Optional[float] = ..., saved_ms: _Optional[float] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ..., versions: _Optional[_Union[_common_pb2.Versions, _Mapping]] = ...) -> None: ...

class ReportResultRequest(_message.Message):
    __slots__ = ("run", "final_accuracy", "stopped_early", "new_dataset")
    RUN_FIELD_NUMBER: _ClassVar[int]
    FINAL_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    STOPPED_EARLY_FIELD_NUMBER: _ClassVar[int]
    NEW_DATASET_FIELD_NUMBER: _ClassVar[int]
    run: Run
    final_accuracy: float
    stopped_early: bool
    new_dataset: bool
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ..., final_accuracy: _Optional[float] = ..., stopped_early: _Optional[bool] = ..., new_dataset: _Optional[bool] = ...) -> None: ...

class ReportResultResponse(_message.Message):
    __slots__ = ("accepted", "runs_recorded", "versions")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    RUNS_RECORDED_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    runs_recorded: int
    versions: _common_pb2.Versions
    def __init__(self, accepted: _Optional[bool] = ..., runs_recorded: _Optional[int] = ..., versions: _Optional[_Union[_common_pb2.Versions, _Mapping]] = ...) -> None: ...
