"""The service layer: the use cases the CLI, the flows and the web app share (import, tick, dispatch, inbound,
guideline load, report, explain). It owns the settings and the choice of sender; it never imports Prefect."""
