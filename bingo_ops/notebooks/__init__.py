"""Running the project's Jupyter notebooks headlessly (papermill), for tests, CI and the CLI."""
