"""``python -m stow``: run the STOW-RS service with settings from the environment."""

from dicomcommon.web import serve
from stow.app import create_app
from stow.settings import Settings


def main() -> None:
    settings = Settings()
    serve.run("stow", create_app(settings), settings.http, settings.auth, settings.tracing)


if __name__ == "__main__":
    main()
