"""The public namespace: what ``mtbus`` exports is exactly ``__all__``, and it is typed."""

from __future__ import annotations

from importlib.resources import files
from types import ModuleType

import mtbus


def test_all_lists_exactly_the_public_names() -> None:
    # "annotations" is the `from __future__ import annotations` feature flag, not an export;
    # public subpackages (mtbus.backends) are modules, not names of the flat namespace.
    public = {
        name
        for name, value in vars(mtbus).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    } - {"annotations"}
    assert isinstance(mtbus.__all__, tuple)
    assert sorted(mtbus.__all__) == list(mtbus.__all__)
    assert set(mtbus.__all__) == public


def test_public_objects_say_they_live_in_mtbus() -> None:
    for name in mtbus.__all__:
        if name != "Overflow":  # a type alias: its module is typing's business
            assert getattr(mtbus, name).__module__ == "mtbus", name


def test_exception_tree() -> None:
    assert issubclass(mtbus.EventError, mtbus.MtbusError)
    assert issubclass(mtbus.EventEmitError, mtbus.EventError)
    assert issubclass(mtbus.EventHandlerError, mtbus.EventError)
    assert issubclass(mtbus.ChannelError, mtbus.MtbusError)
    assert issubclass(mtbus.ChannelClosedError, mtbus.ChannelError)
    assert issubclass(mtbus.ChannelFullError, mtbus.ChannelError)
    assert issubclass(mtbus.MtbusError, Exception)


def test_package_ships_its_type_information() -> None:
    assert files("mtbus").joinpath("py.typed").is_file()


def test_backends_namespace_lists_exactly_its_public_names() -> None:
    from mtbus import backends

    public = {name for name in vars(backends) if not name.startswith("_")} - {"annotations"}
    assert set(backends.__all__) == public
    assert sorted(backends.__all__) == list(backends.__all__)
    assert backends.MemoryBackend.__module__ == "mtbus.backends"
    # The backend writer's interface: a backend knows channels and subscribers only by these.
    assert {"Backend", "Link", "ChannelPort", "SubscriberPort", "Acknowledger"} <= public


def test_the_api_reference_renders_every_public_name() -> None:
    from pathlib import Path

    import mtbus.backends

    reference = (Path(__file__).parent.parent / "docs" / "reference.md").read_text()
    rendered = {line.removeprefix("::: ") for line in reference.splitlines() if line[:4] == "::: "}
    expected = {f"mtbus.{name}" for name in mtbus.__all__} | {
        f"mtbus.backends.{name}" for name in mtbus.backends.__all__
    }
    assert expected - rendered == set()


def test_the_testing_kit_lists_exactly_its_public_names_and_documents_them() -> None:
    from pathlib import Path

    import mtbus.testing

    public = {
        name
        for name, value in vars(mtbus.testing).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    } - {"annotations"}
    assert set(mtbus.testing.__all__) == public
    assert sorted(mtbus.testing.__all__) == list(mtbus.testing.__all__)
    assert all(getattr(mtbus.testing, name).__module__ == "mtbus.testing" for name in public)
    page = (Path(__file__).parent.parent / "docs" / "testing.md").read_text()
    rendered = {line.removeprefix("::: ") for line in page.splitlines() if line[:4] == "::: "}
    assert {f"mtbus.testing.{name}" for name in public} - rendered == set()
