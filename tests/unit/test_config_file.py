"""``config/certwatch.yaml`` documents every option with its default, and loads."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from certwatch.config import Config, load

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "certwatch.yaml"


def option_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += option_paths(annotation, f"{prefix}{name}.")
        else:
            paths.append(prefix + name)
    return paths


def test_example_file_loads_to_the_defaults() -> None:
    """The shipped file is valid and states the embedded defaults."""
    assert Config() == load(EXAMPLE)


def test_example_file_mentions_every_option() -> None:
    """No option is undocumented: each leaf key appears in the file."""
    text = EXAMPLE.read_text()
    missing = [p for p in option_paths(Config) if f"{p.rsplit('.', 1)[-1]}:" not in text]
    assert [] == missing
