"""Where the URL and API key come from: flags > environment > config file > default."""

from __future__ import annotations

import pytest

from coatro_cli.config import DEFAULT_URL, ConfigError, config_path, resolve


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('url = "http://file.example:1"\napi_key = "key-from-file"\n')
    return path


def test_flags_beat_environment_and_file(config_file):
    env = {
        "COATRO_CONFIG": str(config_file),
        "COATRO_URL": "http://env.example:2",
        "COATRO_API_KEY": "key-from-env",
    }
    config = resolve("http://flag.example:3/", "key-from-flag", env=env)
    assert (config.url, config.api_key) == ("http://flag.example:3", "key-from-flag")
    assert config.url_source == config.api_key_source == "flag"


def test_environment_beats_file(config_file):
    env = {
        "COATRO_CONFIG": str(config_file),
        "COATRO_URL": "http://env.example:2",
        "COATRO_API_KEY": "key-from-env",
    }
    config = resolve(env=env)
    assert (config.url, config.api_key) == ("http://env.example:2", "key-from-env")
    assert config.url_source == "environment (COATRO_URL)"


def test_file_beats_default(config_file):
    config = resolve(env={"COATRO_CONFIG": str(config_file)})
    assert (config.url, config.api_key) == ("http://file.example:1", "key-from-file")
    assert str(config_file) in config.url_source


def test_each_setting_falls_back_on_its_own(config_file):
    config = resolve(api_key="key-from-flag", env={"COATRO_CONFIG": str(config_file)})
    assert (config.url, config.api_key) == ("http://file.example:1", "key-from-flag")


def test_default_url_and_no_key_without_any_configuration(tmp_path):
    config = resolve(env={"COATRO_CONFIG": str(tmp_path / "missing.toml")})
    assert config.url == DEFAULT_URL == "http://localhost:8080"
    assert config.api_key is None
    with pytest.raises(ConfigError, match="no API key.*--api-key.*COATRO_API_KEY"):
        config.require_api_key()


def test_default_config_path_is_under_the_home_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path({}) == tmp_path / ".config" / "coatro" / "config.toml"
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path / "x")}) == tmp_path / "x" / "coatro" / "config.toml"
    assert config_path({"COATRO_CONFIG": "/etc/coatro.toml"}).as_posix() == "/etc/coatro.toml"


def test_broken_config_file_is_a_clear_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("url = \n")
    with pytest.raises(ConfigError, match="cannot read the config file"):
        resolve(env={"COATRO_CONFIG": str(path)})
    path.write_text("api_key = 42\n")
    with pytest.raises(ConfigError, match="api_key must be a string"):
        resolve(env={"COATRO_CONFIG": str(path)})


def test_cli_reports_missing_key_and_shows_sources(coatro, tmp_path):
    result = coatro("send", "-", stdin="{}\n")
    assert result.code == 1
    assert "error: no API key" in result.stderr and "Traceback" not in result.stderr

    config = tmp_path / "c.toml"
    config.write_text('url = "http://file.example:1"\napi_key = "secret-key-123"\n')
    shown = coatro("config", env={"COATRO_CONFIG": str(config), "COATRO_URL": "http://env.example:2"})
    assert shown.code == 0
    assert "http://env.example:2   [environment (COATRO_URL)]" in shown.stdout
    assert "secret-key-123" not in shown.stdout and "config file" in shown.stdout

    flag = coatro("--url", "http://flag.example:3", "config", env={"COATRO_CONFIG": str(config)})
    assert "http://flag.example:3   [flag]" in flag.stdout
