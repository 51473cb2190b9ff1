"""``python -m delow``: run the DELETE service with settings from the environment."""

from delow.app import create_app
from delow.settings import Settings
from dicomcommon.web import serve


def main() -> None:
    settings = Settings()
    serve.run("delow", create_app(settings), settings.http, settings.auth, settings.tracing)


if __name__ == "__main__":
    main()
