"""``python -m wado``: build the settings from the environment and serve."""

from __future__ import annotations

from dicomcommon.web import serve
from wado.app import create_app
from wado.settings import Settings


def main() -> None:
    settings = Settings()
    serve.run("wado", create_app(settings), settings.http, settings.auth, settings.tracing)


if __name__ == "__main__":
    main()
