"""captra: recurrent sequence models — attention LSTMs for image captioning and machine translation, language models.

This folder is only the root of captra's one import namespace. The code lives in the folders beside it,
installed under this name (pyproject.toml, [tool.setuptools.package-dir]):

    common/      -> captra.common       the shared core (decoder, search, metrics, base module, CLI)
    translation/ -> captra.translation  a task
    captioning/  -> captra.captioning   a task
    language_model/ -> captra.language_model  a task

so that installing captra claims no generic top-level names such as `common`.
"""

import os
from importlib.metadata import PackageNotFoundError, version
from pkgutil import extend_path

# Run from the repository root (`python -m captra`, pytest), this folder comes first on sys.path and would hide
# the installed namespace; the installed one's folder (a strict editable install's tree of links, or
# site-packages: a `captra` folder that holds common/) is added to the package's path, so that captra.common and
# the tasks resolve.
__path__ = [folder for folder in extend_path(__path__, __name__)
            if folder == __path__[0] or os.path.isfile(os.path.join(folder, "common", "__init__.py"))]

try:
    __version__ = version("captra")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "unknown"
