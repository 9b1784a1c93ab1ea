"""The HTTP layer every service shares: app factory, auth, error format, OpenAPI document.

A service builds its Flask app with :func:`aidflow_shared.http.app.create_api_app` and writes
only blueprints; everything a client or an operator relies on across services lives here once.
"""
