"""``python -m qido``: serve QIDO-RS with settings from the environment."""

from __future__ import annotations

from dicomcommon.web import serve
from qido.app import create_app
from qido.settings import Settings


def main() -> None:
    settings = Settings()
    serve.run("qido", create_app(settings), settings.http, settings.auth, settings.tracing)


if __name__ == "__main__":
    main()
