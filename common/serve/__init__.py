"""`captra serve`: any registered task's checkpoint behind a JSON API and a web page.

    endpoint.py   what a task declares to be served (its `Task.endpoint`): request -> model inputs, hypotheses -> JSON
    limits.py     request limits (body bytes, inputs, characters, image pixels, beam)
    batcher.py    dynamic batching: requests of many clients decoded together, each answered as offline decoding would
    models.py     the served models (checkpoints, ensembles, int8) and their model cards
    app.py        the FastAPI application: routes, authentication, errors, metrics
    command.py    the `captra serve` command (uvicorn)
    page/         the web page at `/` (plain HTML and JavaScript, nothing fetched from elsewhere)
"""
