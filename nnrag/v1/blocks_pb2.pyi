from nnrag.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_AUTO: _ClassVar[SearchMode]
    SEARCH_MODE_MEANING: _ClassVar[SearchMode]
    SEARCH_MODE_SYMBOL: _ClassVar[SearchMode]
    SEARCH_MODE_VECTOR: _ClassVar[SearchMode]
    SEARCH_MODE_LEXICAL: _ClassVar[SearchMode]

class LicensePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LICENSE_POLICY_UNSPECIFIED: _ClassVar[LicensePolicy]
    LICENSE_POLICY_ANY: _ClassVar[LicensePolicy]
    LICENSE_POLICY_NO_COPYLEFT: _ClassVar[LicensePolicy]
    LICENSE_POLICY_PERMISSIVE: _ClassVar[LicensePolicy]
SEARCH_MODE_AUTO: SearchMode
SEARCH_MODE_MEANING: SearchMode
SEARCH_MODE_SYMBOL: SearchMode
SEARCH_MODE_VECTOR: SearchMode
SEARCH_MODE_LEXICAL: SearchMode
LICENSE_POLICY_UNSPECIFIED: LicensePolicy
LICENSE_POLICY_ANY: LicensePolicy
LICENSE_POLICY_NO_COPYLEFT: LicensePolicy
LICENSE_POLICY_PERMISSIVE: LicensePolicy

class SearchRequest(_message.Message):
    __slots__ = ("query", "k", "sources", "min_stage", "mode", "include_code", "license_policy")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    MIN_STAGE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CODE_FIELD_NUMBER: _ClassVar[int]
    LICENSE_POLICY_FIELD_NUMBER: _ClassVar[int]
    query: str
    k: int
    sources: _containers.RepeatedScalarFieldContainer[str]
    min_stage: str
    mode: SearchMode
    include_code: bool
    license_policy: LicensePolicy
    def __init__(self, query: _Optional[str] = ..., k: _Optional[int] = ..., sources: _Optional[_Iterable[str]] = ..., min_stage: _Optional[str] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., include_code: _Optional[bool] = ..., license_policy: _Optional[_Union[LicensePolicy, str]] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("block", "score", "match", "code_omitted")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    CODE_OMITTED_FIELD_NUMBER: _ClassVar[int]
    block: _common_pb2.Block
    score: float
    match: str
    code_omitted: bool
    def __init__(self, block: _Optional[_Union[_common_pb2.Block, _Mapping]] = ..., score: _Optional[float] = ..., match: _Optional[str] = ..., code_omitted: _Optional[bool] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "took_ms", "versions")
    HITS_FIELD_NUMBER: _ClassVar[int]
    TOOK_MS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    took_ms: float
    versions: _common_pb2.Versions
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., took_ms: _Optional[float] = ..., versions: _Optional[_Union[_common_pb2.Versions, _Mapping]] = ...) -> None: ...

class GetBlockRequest(_message.Message):
    __slots__ = ("name_or_hash", "sources", "license_policy")
    NAME_OR_HASH_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    LICENSE_POLICY_FIELD_NUMBER: _ClassVar[int]
    name_or_hash: str
    sources: _containers.RepeatedScalarFieldContainer[str]
    license_policy: LicensePolicy
    def __init__(self, name_or_hash: _Optional[str] = ..., sources: _Optional[_Iterable[str]] = ..., license_policy: _Optional[_Union[LicensePolicy, str]] = ...) -> None: ...

class GetBlockResponse(_message.Message):
    __slots__ = ("block", "other_hashes", "alternatives", "versions")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    OTHER_HASHES_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    block: _common_pb2.Block
    other_hashes: _containers.RepeatedScalarFieldContainer[str]
    alternatives: _containers.RepeatedScalarFieldContainer[str]
    versions: _common_pb2.Versions
    def __init__(self, block: _Optional[_Union[_common_pb2.Block, _Mapping]] = ..., other_hashes: _Optional[_Iterable[str]] = ..., alternatives: _Optional[_Iterable[str]] = ..., versions: _Optional[_Union[_common_pb2.Versions, _Mapping]] = ...) -> None: ...

class PatchRequest(_message.Message):
    __slots__ = ("code", "spec", "check_before", "no_check", "max_tries", "sources", "license_policy")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    CHECK_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NO_CHECK_FIELD_NUMBER: _ClassVar[int]
    MAX_TRIES_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    LICENSE_POLICY_FIELD_NUMBER: _ClassVar[int]
    code: str
    spec: _common_pb2.CheckSpec
    check_before: bool
    no_check: bool
    max_tries: int
    sources: _containers.RepeatedScalarFieldContainer[str]
    license_policy: LicensePolicy
    def __init__(self, code: _Optional[str] = ..., spec: _Optional[_Union[_common_pb2.CheckSpec, _Mapping]] = ..., check_before: _Optional[bool] = ..., no_check: _Optional[bool] = ..., max_tries: _Optional[int] = ..., sources: _Optional[_Iterable[str]] = ..., license_policy: _Optional[_Union[LicensePolicy, str]] = ...) -> None: ...

class InsertedBlock(_message.Message):
    __slots__ = ("name", "content_hash", "reason", "provenance", "qualified_name", "match", "symbol", "renamed", "keyword_renames", "keyword_inverted", "keyword_dropped", "defaults_set", "keyword_flag_layers", "doubts")
    class RenamedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class KeywordRenamesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class KeywordInvertedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class DefaultsSetEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class KeywordFlagLayersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_NAME_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    RENAMED_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_RENAMES_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_INVERTED_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_DROPPED_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_SET_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_FLAG_LAYERS_FIELD_NUMBER: _ClassVar[int]
    DOUBTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    content_hash: str
    reason: str
    provenance: _common_pb2.Provenance
    qualified_name: str
    match: str
    symbol: str
    renamed: _containers.ScalarMap[str, str]
    keyword_renames: _containers.ScalarMap[str, str]
    keyword_inverted: _containers.ScalarMap[str, str]
    keyword_dropped: _containers.RepeatedScalarFieldContainer[str]
    defaults_set: _containers.ScalarMap[str, str]
    keyword_flag_layers: _containers.ScalarMap[str, str]
    doubts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., content_hash: _Optional[str] = ..., reason: _Optional[str] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., qualified_name: _Optional[str] = ..., match: _Optional[str] = ..., symbol: _Optional[str] = ..., renamed: _Optional[_Mapping[str, str]] = ..., keyword_renames: _Optional[_Mapping[str, str]] = ..., keyword_inverted: _Optional[_Mapping[str, str]] = ..., keyword_dropped: _Optional[_Iterable[str]] = ..., defaults_set: _Optional[_Mapping[str, str]] = ..., keyword_flag_layers: _Optional[_Mapping[str, str]] = ..., doubts: _Optional[_Iterable[str]] = ...) -> None: ...

class PatchResponse(_message.Message):
    __slots__ = ("patched_code", "diff", "inserted", "fixes", "before", "after", "changed", "took_ms", "unresolved", "added_imports", "tries", "stripped_text", "attempts", "stop_reason", "versions", "free_names")
    PATCHED_CODE_FIELD_NUMBER: _ClassVar[int]
    DIFF_FIELD_NUMBER: _ClassVar[int]
    INSERTED_FIELD_NUMBER: _ClassVar[int]
    FIXES_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    TOOK_MS_FIELD_NUMBER: _ClassVar[int]
    UNRESOLVED_FIELD_NUMBER: _ClassVar[int]
    ADDED_IMPORTS_FIELD_NUMBER: _ClassVar[int]
    TRIES_FIELD_NUMBER: _ClassVar[int]
    STRIPPED_TEXT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    FREE_NAMES_FIELD_NUMBER: _ClassVar[int]
    patched_code: str
    diff: str
    inserted: _containers.RepeatedCompositeFieldContainer[InsertedBlock]
    fixes: _containers.RepeatedScalarFieldContainer[str]
    before: _common_pb2.CheckResult
    after: _common_pb2.CheckResult
    changed: bool
    took_ms: float
    unresolved: _containers.RepeatedScalarFieldContainer[str]
    added_imports: _containers.RepeatedScalarFieldContainer[str]
    tries: int
    stripped_text: bool
    attempts: _containers.RepeatedScalarFieldContainer[str]
    stop_reason: str
    versions: _common_pb2.Versions
    free_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, patched_code: _Optional[str] = ..., diff: _Optional[str] = ..., inserted: _Optional[_Iterable[_Union[InsertedBlock, _Mapping]]] = ..., fixes: _Optional[_Iterable[str]] = ..., before: _Optional[_Union[_common_pb2.CheckResult, _Mapping]] = ..., after: _Optional[_Union[_common_pb2.CheckResult, _Mapping]] = ..., changed: _Optional[bool] = ..., took_ms: _Optional[float] = ..., unresolved: _Optional[_Iterable[str]] = ..., added_imports: _Optional[_Iterable[str]] = ..., tries: _Optional[int] = ..., stripped_text: _Optional[bool] = ..., attempts: _Optional[_Iterable[str]] = ..., stop_reason: _Optional[str] = ..., versions: _Optional[_Union[_common_pb2.Versions, _Mapping]] = ..., free_names: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("code", "spec")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    code: str
    spec: _common_pb2.CheckSpec
    def __init__(self, code: _Optional[str] = ..., spec: _Optional[_Union[_common_pb2.CheckSpec, _Mapping]] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("result", "versions")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    result: _common_pb2.CheckResult
    versions: _common_pb2.Versions
    def __init__(self, result: _Optional[_Union[_common_pb2.CheckResult, _Mapping]] = ..., versions: _Optional[_Union[_common_pb2.Versions, _Mapping]] = ...) -> None: ...

class AuditRequest(_message.Message):
    __slots__ = ("id", "code", "spec")
    ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    id: str
    code: str
    spec: _common_pb2.CheckSpec
    def __init__(self, id: _Optional[str] = ..., code: _Optional[str] = ..., spec: _Optional[_Union[_common_pb2.CheckSpec, _Mapping]] = ...) -> None: ...

class AuditResponse(_message.Message):
    __slots__ = ("id", "result", "error", "versions")
    ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    id: str
    result: _common_pb2.CheckResult
    error: str
    versions: _common_pb2.Versions
    def __init__(self, id: _Optional[str] = ..., result: _Optional[_Union[_common_pb2.CheckResult, _Mapping]] = ..., error: _Optional[str] = ..., versions: _Optional[_Union[_common_pb2.Versions, _Mapping]] = ...) -> None: ...

class SuggestRequest(_message.Message):
    __slots__ = ("code", "cursor_line", "context_lines", "k", "sources", "license_policy")
    CODE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_LINE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_LINES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    LICENSE_POLICY_FIELD_NUMBER: _ClassVar[int]
    code: str
    cursor_line: int
    context_lines: int
    k: int
    sources: _containers.RepeatedScalarFieldContainer[str]
    license_policy: LicensePolicy
    def __init__(self, code: _Optional[str] = ..., cursor_line: _Optional[int] = ..., context_lines: _Optional[int] = ..., k: _Optional[int] = ..., sources: _Optional[_Iterable[str]] = ..., license_policy: _Optional[_Union[LicensePolicy, str]] = ...) -> None: ...

class Suggestion(_message.Message):
    __slots__ = ("hit", "insert_line", "reason")
    HIT_FIELD_NUMBER: _ClassVar[int]
    INSERT_LINE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    hit: SearchHit
    insert_line: int
    reason: str
    def __init__(self, hit: _Optional[_Union[SearchHit, _Mapping]] = ..., insert_line: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class SuggestResponse(_message.Message):
    __slots__ = ("suggestions", "undefined_names", "imports", "notes", "versions")
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    UNDEFINED_NAMES_FIELD_NUMBER: _ClassVar[int]
    IMPORTS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    suggestions: _containers.RepeatedCompositeFieldContainer[Suggestion]
    undefined_names: _containers.RepeatedScalarFieldContainer[str]
    imports: _containers.RepeatedScalarFieldContainer[str]
    notes: _containers.RepeatedScalarFieldContainer[str]
    versions: _common_pb2.Versions
    def __init__(self, suggestions: _Optional[_Iterable[_Union[Suggestion, _Mapping]]] = ..., undefined_names: _Optional[_Iterable[str]] = ..., imports: _Optional[_Iterable[str]] = ..., notes: _Optional[_Iterable[str]] = ..., versions: _Optional[_Union[_common_pb2.Versions, _Mapping]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("stats_json", "versions")
    STATS_JSON_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    stats_json: str
    versions: _common_pb2.Versions
    def __init__(self, stats_json: _Optional[str] = ..., versions: _Optional[_Union[_common_pb2.Versions, _Mapping]] = ...) -> None: ...
