"""What every function stands on: settings, lazy clients, logs, HTTP, problems, Pub/Sub, CloudEvents.

Nothing here knows about events, files or jobs; the concern packages (`events`, `bulk`, `auth`)
build on it, and `shared.storage.firestore` is the one place that names Firestore collections and fields.
"""
