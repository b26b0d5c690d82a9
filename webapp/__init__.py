"""A local web app and JSON API over the SavedModels of every task.

    python -m tasks serve --runs runs/demo        # or: make serve, python -m webapp --runs runs/demo

``adapters`` reads one run directory per task (``<runs>/<task>/saved_model``)
and is the only code that knows each SavedModel's signatures; ``app`` builds
the FastAPI application (pages, JSON API, the trigger-word websocket);
``batching`` gathers concurrent requests into one SavedModel call.
"""
