"""Tell every web process that the practices changed, through the version key they read per webhook."""
from __future__ import annotations

import logging

import redis

from practices.directory import CONFIG_VERSION_KEY

log = logging.getLogger(__name__)


def publish_config_change(redis_client: redis.Redis) -> None:
    """Bump the config version; with Redis down, processes pick the change up within their cache age."""
    try:
        redis_client.incr(CONFIG_VERSION_KEY)
    except redis.RedisError as exc:
        log.warning("config loaded, but Redis did not take the new version (%s); caches expire on their own",
                    type(exc).__name__)
