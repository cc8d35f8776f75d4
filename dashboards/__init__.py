"""The charnn dashboard (Dash): browse, search and compare the neurons of recorded runs.

    charnn dashboard runs                 # http://127.0.0.1:8050
    from dashboards import create_app     # the app factory, for tests and embedding

The app only calls charnn's public Python API; it never reads the Parquet files itself.
"""


def create_app(runs_root):
    from .app import create_app as factory

    return factory(runs_root)


__all__ = ["create_app"]
