"""``python -m dimse``: run the DIMSE service with settings from the environment."""

from dicomcommon.web import serve
from dimse.app import create_app
from dimse.settings import Settings


def main() -> None:
    settings = Settings()
    serve.run("dimse", create_app(settings), settings.http, settings.auth, settings.tracing)


if __name__ == "__main__":
    main()
