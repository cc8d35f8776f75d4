"""The dashboard's views: each view module has a pure `layout(...)` function and a
`register(app, data[, jobs])` that adds the callbacks of that layout to an app. Shared parts:
`grid` (the tables), `jobpanel` (long work in a server thread, polled), `textpanel` (the colored
text)."""
