"""gunicorn's entry point: `gunicorn wsgi:app`."""
from careline.app import create_app

app = create_app()
