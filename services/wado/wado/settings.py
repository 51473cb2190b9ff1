"""WADO settings (prefix ``DICOMWEB_WADO_``), composing the shared PostgreSQL, storage and HTTP."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.dicom.conversions import ConversionLimits
from dicomcommon.settings import UsesPostgres, UsesStorage, WebServiceSettings


class Settings(BaseSettings, WebServiceSettings, ConversionLimits, UsesPostgres, UsesStorage):
    model_config = SettingsConfigDict(env_prefix="DICOMWEB_WADO_")

    # BulkDataURIs follow X-Forwarded-Host / -Proto / -Prefix when a gateway sends them, so
    # a client reaching us through any name gets URLs it can resolve (issue 5, OHIF).
    trust_forwarded_headers: bool = True
    # Metadata rows fetched per database round trip: bounds memory for very large studies.
    metadata_page_size: int = Field(default=250, ge=1, le=10_000)
    # Serialized study / series metadata kept per process, keyed by ETag (0 turns it off).
    metadata_cache_bytes: int = Field(default=128 << 20, ge=0)
    # Rendered pictures (rendered, thumbnails, WADO-URI images) kept per process, keyed by
    # instance version, frames and parameters; least recently used out (0 turns it off).
    render_cache_bytes: int = Field(default=64 << 20, ge=0)
    # Worker processes that decode and encode pictures, so a long decode (most codecs hold the
    # GIL) never stalls the process's other requests; 0: a worker thread (see render_workers).
    render_processes: int = Field(default=0, ge=0, le=64)
    # Threads OpenJPEG decodes one large JPEG 2000 frame in (``wado.jpeg2k``): 2 shortens a
    # first rendering by about a third on 2 cores, for a little more CPU; 1: one thread.
    decode_threads: int = Field(default=2, ge=1, le=64)
    # Render each stored instance's thumbnail / default rendering (JPEG) in the background as
    # the change feed announces it, so its first request is a cache hit (wado.prerender); off
    # by default: it costs a rendering per stored instance whether anyone looks or not.
    prerender_thumbnails: bool = False
    prerender_rendered: bool = False
    # Feed entries the background rendering may fall behind before it skips to the newest.
    prerender_max_lag: int = Field(default=10_000, ge=0)
    # max_transcode_bytes, max_conversions, max_conversion_bytes, conversion_wait_seconds:
    # from ConversionLimits (dicomcommon.dicom.conversions); a request that finds no room within the
    # wait is a 503 with Retry-After.
    # Frames one animated GIF of a multi-frame instance may hold (each is decoded and kept).
    max_animated_frames: int = Field(default=500, ge=1, le=100_000)
    # Keys the UID replacement of WADO-URI anonymize=yes (PS3.15 E.1, HMAC-SHA-256): keep it
    # stable and shared by every replica so one study maps to one study. Random per process
    # when unset, so anonymized UIDs then differ between processes and restarts.
    # The web viewer's files (OHIF's prebuilt dist, patched for /viewer/; see wado.viewer);
    # unset: /viewer/ says how to install it. The OIDC issuer and client id it signs in with
    # when the server requires tokens (both set, else it signs in with nothing).
    viewer_root: Path | None = None
    viewer_oidc_authority: str = ""
    viewer_oidc_client_id: str = ""
    viewer_oidc_scope: str = "openid profile"
    anonymize_uid_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_hex(32))
    )
