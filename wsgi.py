"""gunicorn's entry point: `gunicorn wsgi:app`."""
from careline.app import create_app
from core.redis_durability import check_redis_durability

app = create_app()
# A Redis that would lose messages on a restart: a warning in development, no start in production.
check_redis_durability(app.extensions["careline"].redis, app.extensions["careline"].config)
