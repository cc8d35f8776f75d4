"""The dashboard's views: each module has a pure `layout(...)` function and a `register(app, data)`
that adds the callbacks of that layout to an app."""
