from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Versions(_message.Message):
    __slots__ = ("index_version", "embedder_version", "predictor_version", "server_version")
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREDICTOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    index_version: str
    embedder_version: str
    predictor_version: str
    server_version: str
    def __init__(self, index_version: _Optional[str] = ..., embedder_version: _Optional[str] = ..., predictor_version: _Optional[str] = ..., server_version: _Optional[str] = ...) -> None: ...

class Shape(_message.Message):
    __slots__ = ("dims",)
    DIMS_FIELD_NUMBER: _ClassVar[int]
    dims: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, dims: _Optional[_Iterable[int]] = ...) -> None: ...

class Example(_message.Message):
    __slots__ = ("init_args_json", "init_kwargs_json", "inputs", "input_dtypes", "infer_inputs", "input_specs_json")
    INIT_ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    INIT_KWARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_DTYPES_FIELD_NUMBER: _ClassVar[int]
    INFER_INPUTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_SPECS_JSON_FIELD_NUMBER: _ClassVar[int]
    init_args_json: str
    init_kwargs_json: str
    inputs: _containers.RepeatedCompositeFieldContainer[Shape]
    input_dtypes: _containers.RepeatedScalarFieldContainer[str]
    infer_inputs: bool
    input_specs_json: str
    def __init__(self, init_args_json: _Optional[str] = ..., init_kwargs_json: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[Shape, _Mapping]]] = ..., input_dtypes: _Optional[_Iterable[str]] = ..., infer_inputs: _Optional[bool] = ..., input_specs_json: _Optional[str] = ...) -> None: ...

class CheckSpec(_message.Message):
    __slots__ = ("entry", "lemur", "example", "candidates", "expected_output_shape", "stages", "max_params", "timeout_ms", "memory_mb", "count_flops", "train_lemur")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    LEMUR_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_OUTPUT_SHAPE_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    MAX_PARAMS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    COUNT_FLOPS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LEMUR_FIELD_NUMBER: _ClassVar[int]
    entry: str
    lemur: bool
    example: Example
    candidates: _containers.RepeatedCompositeFieldContainer[Example]
    expected_output_shape: _containers.RepeatedScalarFieldContainer[int]
    stages: _containers.RepeatedScalarFieldContainer[str]
    max_params: int
    timeout_ms: float
    memory_mb: int
    count_flops: bool
    train_lemur: bool
    def __init__(self, entry: _Optional[str] = ..., lemur: _Optional[bool] = ..., example: _Optional[_Union[Example, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[Example, _Mapping]]] = ..., expected_output_shape: _Optional[_Iterable[int]] = ..., stages: _Optional[_Iterable[str]] = ..., max_params: _Optional[int] = ..., timeout_ms: _Optional[float] = ..., memory_mb: _Optional[int] = ..., count_flops: _Optional[bool] = ..., train_lemur: _Optional[bool] = ...) -> None: ...

class Diagnosis(_message.Message):
    __slots__ = ("problem", "hint", "kind", "symbol", "line")
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    problem: str
    hint: str
    kind: str
    symbol: str
    line: int
    def __init__(self, problem: _Optional[str] = ..., hint: _Optional[str] = ..., kind: _Optional[str] = ..., symbol: _Optional[str] = ..., line: _Optional[int] = ...) -> None: ...

class CheckResult(_message.Message):
    __slots__ = ("status", "stages", "failed_stage", "error_type", "message", "traceback", "params", "flops", "output_shapes", "forward_ms", "peak_rss_mb", "wall_ms", "example", "entry", "diagnosis", "stdout", "cpu_s", "output_count", "warnings")
    class StagesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    FAILED_STAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    FLOPS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SHAPES_FIELD_NUMBER: _ClassVar[int]
    FORWARD_MS_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_MB_FIELD_NUMBER: _ClassVar[int]
    WALL_MS_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    CPU_S_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_COUNT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    status: str
    stages: _containers.ScalarMap[str, str]
    failed_stage: str
    error_type: str
    message: str
    traceback: str
    params: int
    flops: int
    output_shapes: _containers.RepeatedCompositeFieldContainer[Shape]
    forward_ms: float
    peak_rss_mb: float
    wall_ms: float
    example: Example
    entry: str
    diagnosis: Diagnosis
    stdout: str
    cpu_s: float
    output_count: int
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, status: _Optional[str] = ..., stages: _Optional[_Mapping[str, str]] = ..., failed_stage: _Optional[str] = ..., error_type: _Optional[str] = ..., message: _Optional[str] = ..., traceback: _Optional[str] = ..., params: _Optional[int] = ..., flops: _Optional[int] = ..., output_shapes: _Optional[_Iterable[_Union[Shape, _Mapping]]] = ..., forward_ms: _Optional[float] = ..., peak_rss_mb: _Optional[float] = ..., wall_ms: _Optional[float] = ..., example: _Optional[_Union[Example, _Mapping]] = ..., entry: _Optional[str] = ..., diagnosis: _Optional[_Union[Diagnosis, _Mapping]] = ..., stdout: _Optional[str] = ..., cpu_s: _Optional[float] = ..., output_count: _Optional[int] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class Provenance(_message.Message):
    __slots__ = ("source", "package", "version", "path", "module", "line_start", "line_end", "qualified_name", "license")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    MODULE_FIELD_NUMBER: _ClassVar[int]
    LINE_START_FIELD_NUMBER: _ClassVar[int]
    LINE_END_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_NAME_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    source: str
    package: str
    version: str
    path: str
    module: str
    line_start: int
    line_end: int
    qualified_name: str
    license: str
    def __init__(self, source: _Optional[str] = ..., package: _Optional[str] = ..., version: _Optional[str] = ..., path: _Optional[str] = ..., module: _Optional[str] = ..., line_start: _Optional[int] = ..., line_end: _Optional[int] = ..., qualified_name: _Optional[str] = ..., license: _Optional[str] = ...) -> None: ...

class StageValidation(_message.Message):
    __slots__ = ("ok", "error")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    error: str
    def __init__(self, ok: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class Block(_message.Message):
    __slots__ = ("name", "qualified_name", "code", "provenances", "content_hash", "struct_hash", "signature", "docstring", "external_imports", "missing_deps", "unresolved", "validation", "example", "near_dup_group", "params", "flops")
    class ValidationEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: StageValidation
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[StageValidation, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PROVENANCES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    STRUCT_HASH_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    DOCSTRING_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_IMPORTS_FIELD_NUMBER: _ClassVar[int]
    MISSING_DEPS_FIELD_NUMBER: _ClassVar[int]
    UNRESOLVED_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_FIELD_NUMBER: _ClassVar[int]
    NEAR_DUP_GROUP_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    FLOPS_FIELD_NUMBER: _ClassVar[int]
    name: str
    qualified_name: str
    code: str
    provenances: _containers.RepeatedCompositeFieldContainer[Provenance]
    content_hash: str
    struct_hash: str
    signature: str
    docstring: str
    external_imports: _containers.RepeatedScalarFieldContainer[str]
    missing_deps: _containers.RepeatedScalarFieldContainer[str]
    unresolved: _containers.RepeatedScalarFieldContainer[str]
    validation: _containers.MessageMap[str, StageValidation]
    example: Example
    near_dup_group: str
    params: int
    flops: int
    def __init__(self, name: _Optional[str] = ..., qualified_name: _Optional[str] = ..., code: _Optional[str] = ..., provenances: _Optional[_Iterable[_Union[Provenance, _Mapping]]] = ..., content_hash: _Optional[str] = ..., struct_hash: _Optional[str] = ..., signature: _Optional[str] = ..., docstring: _Optional[str] = ..., external_imports: _Optional[_Iterable[str]] = ..., missing_deps: _Optional[_Iterable[str]] = ..., unresolved: _Optional[_Iterable[str]] = ..., validation: _Optional[_Mapping[str, StageValidation]] = ..., example: _Optional[_Union[Example, _Mapping]] = ..., near_dup_group: _Optional[str] = ..., params: _Optional[int] = ..., flops: _Optional[int] = ...) -> None: ...
