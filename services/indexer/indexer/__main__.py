"""``python -m indexer``: run the indexer; ``python -m indexer migrate`` only migrates."""

import asyncio
import sys

from dicomcommon.adapters import db
from dicomcommon.web import logs, serve
from indexer.app import create_app
from indexer.migrate import migrate
from indexer.settings import Settings


async def _migrate(settings: Settings) -> None:
    pool = await db.create_pool(settings.postgres)
    try:
        async with db.connection(pool) as conn:
            applied = await migrate(conn)
        print("applied:", ", ".join(applied) or "nothing (schema is current)")
    finally:
        await pool.close()


def main() -> None:
    settings = Settings()
    if sys.argv[1:] == ["migrate"]:
        logs.configure("indexer", settings.http.log_level)
        asyncio.run(_migrate(settings))
        return
    serve.run("indexer", create_app(settings), settings.http, settings.auth, settings.tracing)


if __name__ == "__main__":
    main()
