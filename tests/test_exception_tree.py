"""One error root: every library exception is an ExportError defined in exceptions.py."""

from __future__ import annotations

import importlib
import pickle
import pkgutil
import smtplib

import reasonkit_export
from reasonkit_export import exceptions
from reasonkit_export.exceptions import ExportError


def _all_modules() -> list[str]:
    names = [reasonkit_export.__name__]
    for info in pkgutil.walk_packages(reasonkit_export.__path__, f"{reasonkit_export.__name__}."):
        if not info.name.endswith(".__main__"):  # importing it runs the CLI
            names.append(info.name)
    return names


# Control-flow signals caught inside the library that never reach a caller: these,
# and any private (underscore-named) exception class.
INTERNAL_SIGNALS = {
    "reasonkit_export._builder.Superseded",
    "reasonkit_export._builder.TransientFailure",
}


def _optional_dependency_missing(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return True
    return False


def test_every_exception_class_is_defined_in_exceptions_under_export_error() -> None:
    """No module defines its own exception; every one the package names is an ExportError."""
    seen: set[type[BaseException]] = set()
    for name in _all_modules():
        if _optional_dependency_missing(name):
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__.startswith("reasonkit_export")
                and f"{value.__module__}.{value.__qualname__}" not in INTERNAL_SIGNALS
                and not value.__name__.startswith("_")
            ):
                seen.add(value)
                assert value.__module__ == "reasonkit_export.exceptions", value
                assert issubclass(value, ExportError), value
    assert len(seen) >= 25


def test_the_docstring_draws_every_exception() -> None:
    """The tree in the module docstring names every class in exceptions.__all__."""
    doc = exceptions.__doc__ or ""
    for name in exceptions.__all__:
        assert f" {name}" in doc, name


def test_old_import_locations_still_work() -> None:
    """Errors that moved into exceptions.py are the same classes at their old homes."""
    from reasonkit_export.delivery import DeliveryError
    from reasonkit_export.notifiers import SmtpDeliveryError
    from reasonkit_export.settings import ConfigError

    assert ConfigError is exceptions.ConfigError
    assert DeliveryError is exceptions.DeliveryError
    assert SmtpDeliveryError is exceptions.SmtpDeliveryError


def test_smtp_error_stays_an_smtp_exception_and_pickles() -> None:
    """SmtpDeliveryError is an ExportError and still an SMTPException (so an OSError)."""
    error = exceptions.SmtpDeliveryError.from_cause(
        "login", smtplib.SMTPAuthenticationError(535, b"bad credentials for zoe@example.org")
    )
    assert isinstance(error, ExportError)
    assert isinstance(error, smtplib.SMTPException)
    assert isinstance(error, OSError)
    assert error.stage == "login"
    assert error.smtp_code == 535
    assert "zoe@example.org" not in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.stage, copy.smtp_code) == (str(error), "login", 535)
