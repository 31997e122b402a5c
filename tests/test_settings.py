"""Settings from ``NNRAG_*`` variables and the TOML file: every value given is either applied or refused by name
(the variable, or the file and its key), and a refusal ends a command with exit 2 and one line, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nnrag.cli import main
from nnrag.settings import Settings, SettingsError, get_settings


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch, tmp_path):
    """No NNRAG_* variable of the caller, no ./nnrag.toml of the checkout, no cached settings."""
    for name in ("NNRAG_CONFIG", "NNRAG_STORE_DIR", "NNRAG_PREDICTOR_DIR", "NNRAG_INDEX_SOURCES", "NNRAG_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NNRAG_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _config(monkeypatch, path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    monkeypatch.setenv("NNRAG_CONFIG", str(path))
    return path


def _refusal(capsys, monkeypatch, *args: str) -> str:
    """What ``nnrag ARGS`` prints on stderr when it refuses the settings: exit 2, one line, no traceback."""
    monkeypatch.setattr(sys, "argv", ["nnrag", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_a_file_that_is_not_toml_names_the_file_and_line(capsys, monkeypatch, tmp_path):
    config = _config(monkeypatch, tmp_path / "bad.toml", 'workers = 2\nstore_dir = "/x\n')
    err = _refusal(capsys, monkeypatch, "stats")
    assert str(config) in err and "not valid TOML" in err and "line 2" in err, err


def test_a_file_that_is_not_utf8_names_the_file_and_line(capsys, monkeypatch, tmp_path):
    """TOML is UTF-8: a Latin-1 comment crashed every command with a UnicodeDecodeError traceback."""
    config = tmp_path / "latin1.toml"
    config.write_bytes("workers = 2\n# café\n".encode("latin-1"))
    monkeypatch.setenv("NNRAG_CONFIG", str(config))
    err = _refusal(capsys, monkeypatch, "stats")
    assert str(config) in err and "not UTF-8" in err and "line 2" in err and "0xe9" in err, err


def test_an_env_value_that_cannot_be_decoded_names_the_variable(capsys, monkeypatch):
    monkeypatch.setenv("NNRAG_INDEX_SOURCES", "pkg:timm")
    err = _refusal(capsys, monkeypatch, "stats")
    assert "NNRAG_INDEX_SOURCES" in err and "'pkg:timm' is not JSON" in err, err


def test_unknown_keys_in_the_file_are_refused_with_the_nearest_setting(monkeypatch, tmp_path):
    config = _config(monkeypatch, tmp_path / "typo.toml", 'store-dir = "/nonexistent/x"\n')
    with pytest.raises(SettingsError, match=r"unknown setting 'store-dir'; did you mean 'store_dir'\?") as refused:
        get_settings()
    assert str(config) in str(refused.value)
    _config(monkeypatch, tmp_path / "table.toml", '[nnrag]\nstore_dir = "/nonexistent/x"\n')
    with pytest.raises(SettingsError, match=r"\[nnrag\] is a table, and settings are top-level keys"):
        get_settings()


def test_an_explicit_config_must_be_a_readable_file(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NNRAG_CONFIG", str(tmp_path / "none.toml"))
    assert "NNRAG_CONFIG=" in (err := _refusal(capsys, monkeypatch, "stats")) and "does not exist" in err, err
    monkeypatch.setenv("NNRAG_CONFIG", str(tmp_path))
    assert "is not a file" in _refusal(capsys, monkeypatch, "stats")


def test_the_default_config_may_be_absent_and_unknown_env_vars_are_not_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("NNRAG_TARGETS", "lint")  # read by the Makefile, no setting
    assert not (tmp_path / "nnrag.toml").exists()
    assert get_settings().store_path == tmp_path / "home" / "store"


def test_relative_paths_in_the_file_are_read_from_its_folder(monkeypatch, tmp_path):
    folder = tmp_path / "conf"
    monkeypatch.delenv("NNRAG_HOME")  # the variable would win over the file's home
    _config(monkeypatch, folder / "nnrag.toml", 'home = "h"\nstore_dir = "st1"\npredictor_dir = "../pred"\n')
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    settings = get_settings()
    assert settings.home == folder / "h" and settings.store_path == folder / "st1"
    assert settings.predictor_path.resolve() == tmp_path / "pred"
    monkeypatch.setenv("NNRAG_STORE_DIR", "from-env")  # a variable stays relative to the working directory
    assert Settings().store_path == Path("from-env")


def test_an_empty_env_value_means_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("NNRAG_STORE_DIR", "")
    monkeypatch.setenv("NNRAG_CONFIG", "")
    assert get_settings().store_path == tmp_path / "home" / "store"


def test_a_refused_value_is_named_where_it_came_from_on_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("NNRAG_WORKERS", raising=False)
    config = _config(monkeypatch, tmp_path / "conf" / "nnrag.toml", "workers = 0\n")
    err = _refusal(capsys, monkeypatch, "stats")
    assert f"invalid settings: workers in {config}: " in err and "NNRAG_WORKERS" not in err, err  # not the variable too
    monkeypatch.setenv("NNRAG_WORKERS", "0")
    err = _refusal(capsys, monkeypatch, "stats")
    assert "invalid settings: NNRAG_WORKERS: " in err and str(config) not in err, err


def test_infinite_and_nan_values_are_refused_and_a_variable_is_named_as_spelt(capsys, monkeypatch):
    """NNRAG_DRAIN_S=inf passed (ge=0), then grpc's shutdown thread died on it; nan was refused as "should be less
    than or equal to 86400"; NNRAG_workers=0 (read whatever its case) was blamed on a nnrag.toml that did not exist."""
    for name, value in (("NNRAG_DRAIN_S", "inf"), ("NNRAG_CHECK_TIMEOUT_S", "nan"), ("NNRAG_DRAIN_S", "1e300")):
        monkeypatch.setenv(name, value)
        err = _refusal(capsys, monkeypatch, "stats")
        assert f"invalid settings: {name}: " in err and ("finite number" in err or "less than or equal" in err), err
        monkeypatch.delenv(name)
    monkeypatch.delenv("NNRAG_WORKERS", raising=False)
    monkeypatch.setenv("NNRAG_workers", "0")
    err = _refusal(capsys, monkeypatch, "stats")
    assert "invalid settings: NNRAG_workers: " in err and "nnrag.toml" not in err, err
    err = _refusal(capsys, monkeypatch, "stats", "--store", "somewhere")  # a command that needs no setting refuses it too
    assert "invalid settings: NNRAG_workers: " in err, err


def test_predictor_cache_follows_nnrag_home_set_after_import(tmp_path, monkeypatch):
    """The LEMUR wheel, parsed runs and fitted estimators live under ``$NNRAG_HOME/cache``, read when used: the
    predictor's cache path was fixed at import to ~/.cache/nnrag/cache whatever NNRAG_HOME said."""
    from predictor.data import cache_dir_or_default

    monkeypatch.setenv("NNRAG_HOME", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    assert cache_dir_or_default(None) == tmp_path / "elsewhere" / "cache"
    assert cache_dir_or_default(tmp_path / "given") == tmp_path / "given"


def test_a_boolean_for_a_number_is_refused(capsys, monkeypatch, tmp_path):
    """pydantic takes a bool as a number: ``workers = true`` ran one worker and ``drain_s = false`` left in-flight
    calls no drain time, both without a word."""
    config = _config(monkeypatch, tmp_path / "nnrag.toml", "workers = true\n")
    err = _refusal(capsys, monkeypatch, "stats")
    assert f"invalid settings: workers in {config}: expected a whole number, got true" in err, err
    _config(monkeypatch, tmp_path / "nnrag.toml", "drain_s = false\n")
    with pytest.raises(SettingsError, match="drain_s .*expected a number, got false"):
        get_settings()
    with pytest.raises(ValueError, match="got true"):
        Settings(max_message_mb=True)
