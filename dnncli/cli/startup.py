"""What ``dnn --help`` leaves out: two modules typer's help renderer imports but never uses here.

``typer.rich_utils`` (imported when typer first renders a help screen or a usage error) imports
``rich.markdown`` (with markdown-it: about a fifth of ``dnn --help``'s time) and
``rich.traceback`` (with Pygments) at its top. It uses ``Markdown`` only in the ``"markdown"``
markup mode (dnn uses ``"rich"``) and ``Traceback`` only for pretty exceptions (off). While that
one module is imported, :func:`defer_unused_help_modules` lends it stand-ins for the two names:
classes that import the real module and build the real object if they are ever called. Once
``typer.rich_utils`` is imported the stand-ins are gone from ``sys.modules``, so any other
``import rich.markdown`` gets the real module. What the help screens show is unchanged
(``tests/test_startup.py``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

HELP_RENDERER = "typer.rich_utils"
# module -> the names the help renderer imports from it
DEFERRED = {"rich.markdown": ("Markdown",), "rich.traceback": ("Traceback",)}


def _stand_in(module: str, name: str) -> type:
    """A class named ``name`` whose instances are the real ``module.name``'s."""

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return type(name, (), {"__new__": __new__, "__module__": module, "__doc__": f"{module}.{name}, imported when used"})


class _DeferringLoader:  # a loader (not importlib.abc's class: importing that costs 12 ms)
    """Runs the help renderer's module with the stand-ins in ``sys.modules``, then removes them."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source, get_code, ...: the real loader's
        return getattr(self.loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        lent = {}
        for name, attributes in DEFERRED.items():
            if name not in sys.modules:
                stand_in = types.ModuleType(name)
                for attribute in attributes:
                    setattr(stand_in, attribute, _stand_in(name, attribute))
                lent[name] = sys.modules[name] = stand_in

        def give_back() -> None:
            for name, stand_in in lent.items():
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]

        try:
            self.loader.exec_module(module)
        except ImportError:
            # a typer that takes more from these modules than the stand-ins hold: the real ones
            give_back()
            self.loader.exec_module(module)
        finally:
            give_back()


class _HelpRendererFinder:  # a meta path finder
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != HELP_RENDERER:
            return None
        sys.meta_path.remove(self)  # once: the real finders locate it
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _DeferringLoader(spec.loader)
        return spec


def defer_unused_help_modules() -> None:
    """Install the finder (before typer's help renderer is first imported; a no-op after)."""
    if HELP_RENDERER in sys.modules or any(isinstance(f, _HelpRendererFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _HelpRendererFinder())
