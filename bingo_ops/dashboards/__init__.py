"""Live ipywidgets views of running games, for organisers in JupyterLab."""
