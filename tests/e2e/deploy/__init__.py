"""Static and scripted checks of the production deployment files.

There is no Docker engine where these tests run, so nothing here builds an image or starts a
container. Instead they parse Dockerfile, .dockerignore, docker-compose.yml, .env.example and
deploy/, compare them with what the code reads (goalflow.core.settings.Settings, pyproject.toml, the
search-attribute keys of workflows.enrollment), and run the two one-shot setup scripts with stub
`temporal` / `temporal-sql-tool` programs that record what the scripts ask of them.
"""
